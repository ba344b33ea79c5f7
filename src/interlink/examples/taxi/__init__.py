"""The taxi-hailing example of the source slides, end to end.

A passenger's phone asks Trip Management for a pickup (notification); Trip
verifies the passenger (request/response) and asks Billing to pre-authorise
payment (request/async response); Trip publishes ``trip.created``
(publish/subscribe); the Dispatcher asks every driver for an offer
(publish/async responses), picks the best and publishes ``driver.proposed``;
Notification pushes the news to the phone; 1 s later (``delay=``) Billing captures the
payment. Trip, Billing and the Dispatcher keep their state in ``store`` (dicts in this
process, or PostgreSQL through the outbox and inbox: ``store_pg``).
"""
