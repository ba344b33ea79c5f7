"""Example applications shipped with interlink (``interlink demo`` plays the taxi one).

    interlink run interlink.examples.taxi.app:app --instances driver=3
"""
