"""Short examples for docs/api.md, for the public names whose docstring has none (see scripts/api_doc.py)."""

EXAMPLES: dict[str, str] = {
    "interlink.App": """
app = interlink.App("shop", services=[orders, billing], gateway="gateway.yaml")
await app.serve(bus, instances={"billing": 2})      # or: interlink run shop.app:app
""",
    "interlink.Breaker": """
policy = Policy(breaker=Breaker(failure_rate=0.5, min_calls=10, window=10.0, cool_down=5.0))
""",
    "interlink.BrokerError": """
try:
    await interlink.connect("nats://127.0.0.1:1").start()
except interlink.BrokerError as exc:
    print("broker down:", exc)
""",
    "interlink.Bulkhead": """
bulkhead = Bulkhead(10)
with bulkhead:          # Overloaded at once when 10 calls are already outstanding
    await call()
""",
    "interlink.Bus": """
async with interlink.connect("nats://127.0.0.1:4222") as bus:
    await bus.serve(greeter)
    assert await bus.request("greeter.hello", "ada") == "hello, ada"
    await bus.publish("greeter.greeted", {"name": "ada"})
    letters = await bus.dead_letters.list(service="greeter")
""",
    "interlink.CircuitOpen": """
try:
    await bus.request("pricing.quote", order, policy=Policy(breaker=Breaker()))
except interlink.CircuitOpen as exc:
    await asyncio.sleep(exc.retry_after)
""",
    "interlink.ConnectionLost": """
try:
    await bus.request("a.b", 1)
except interlink.ConnectionLost:
    ...  # the request may have been handled; retry only if it is idempotent
""",
    "interlink.CircuitBreaker": """
breaker = CircuitBreaker(Breaker(min_calls=5))
probe = breaker.allow()          # raises CircuitOpen while open
breaker.record(failed, probe)
""",
    "interlink.Context": """
@svc.endpoint("orders.place")
async def place(order: Order, ctx: Context) -> str:
    stock = await ctx.request("stock.reserve", order.items, timeout=2.0)  # at most ctx.deadline
    await ctx.publish("orders.placed", order)      # same correlation id and trace
    return ctx.message_id
""",
    "interlink.DeadLetter": """
letter = (await bus.dead_letters.list(service="billing"))[0]
print(letter.id, letter.subject, letter.code, letter.reason, letter.attempts, letter.json())
""",
    "interlink.DeadLetterNotFound": """
try:
    await bus.dead_letters.replay("no-such-id")
except interlink.DeadLetterNotFound:
    ...
""",
    "interlink.DeadLetters": """
for letter in await bus.dead_letters.list(subject="orders.>", code="declined"):
    await bus.dead_letters.replay(letter.id)
await bus.dead_letters.purge(service="billing")
""",
    "interlink.Delivery": """
@svc.subscribe("orders.created", max_attempts=3, backoff=0.5, max_concurrency=8, idempotent=True)
async def on_created(order: Order) -> None: ...
""",
    "interlink.HandlerInfo": """
for info in await bus.services():
    for endpoint in info.endpoints:
        print(endpoint.subject, endpoint.num_requests, endpoint.num_errors)
""",
    "interlink.Instance": """
instance = await bus.serve(greeter)
print(instance.id)      # greeter-1a2b3c4d
await instance.stop()   # in-flight handlers finish
""",
    "interlink.InstanceInfo": """
for info in await bus.services(service="orders"):
    print(info.service, info.id, info.version, info.host, info.uptime)
""",
    "interlink.InterlinkError": """
try:
    await bus.request("a.b", 1)
except interlink.InterlinkError as exc:   # every error interlink raises
    print(type(exc).__name__, exc)
""",
    "interlink.KillSwitch": """
@svc.endpoint("payments.charge", kill_switch=KillSwitch(failure_rate=0.5, window=20, cool_down=30))
async def charge(payment: Payment) -> None: ...
""",
    "interlink.MemoryTransport": """
async with interlink.connect("memory://tests") as bus:   # one in-process broker per name
    ...
""",
    "interlink.NoResponders": """
try:
    await bus.request("nobody.serves.this", 1)
except interlink.NoResponders:
    ...  # raised at once, not after the timeout
""",
    "interlink.Overloaded": """
try:
    await bus.request("search.query", q, policy=Policy(max_concurrent=4))
except interlink.Overloaded:
    ...  # refused locally at once
""",
    "interlink.Policies": """
bus.policies = Policies({"pricing.>": Policy(timeout=1.0, idempotent=True)}, default=Policy())
""",
    "interlink.Policy": """
quote = await bus.request("pricing.quote", order, policy=Policy(timeout=1.0, idempotent=True,
                                                                   retry=Retry(attempts=3), fallback=None))
""",
    "interlink.Reply": """
for reply in await bus.gather("drivers.offer", ride, within=1.0):
    print(reply.service, reply.instance, reply.body)
""",
    "interlink.RequestTimeout": """
try:
    await bus.request("slow.thing", 1, timeout=0.5)
except interlink.RequestTimeout:
    ...
""",
    "interlink.Retry": """
policy = Policy(idempotent=True, retry=Retry(attempts=3, backoff=0.05, max_backoff=1.0))
""",
    "interlink.RetryPolicy": """
@svc.endpoint("mail.send", retry=RetryPolicy(no_retry("bad_address"), retry_on(TimeoutError, delayed=5)))
async def send(mail: Mail) -> None: ...
""",
    "interlink.RetryRule": """
rule = RetryRule((ConnectionError, "busy"), immediate=1, delayed=3, backoff=0.5)
""",
    "interlink.Service": """
greeter = Service("greeter", version="1.0.0")

@greeter.endpoint("greeter.hello")
async def hello(name: str) -> str:
    return f"hello, {name}"

@greeter.subscribe("users.created", publish="greeter.greeted")
async def welcome(user: dict) -> dict:
    return {"greeted": user["name"]}
""",
    "interlink.SubjectError": """
try:
    await bus.publish("not a subject", 1)
except interlink.SubjectError:
    ...
""",
    "interlink.ValidationError": """
try:
    await bus.request("orders.place", {"items": "not-a-list"})
except interlink.ValidationError as exc:   # the receiver refused the body (code "invalid")
    print(exc)
""",
    "interlink.connect": """
async with interlink.connect("nats://127.0.0.1:4222", format="msgpack", name="cli") as bus:
    ...
""",
    "interlink.no_retry": """
RetryPolicy(no_retry(ValueError, "declined"))
""",
    "interlink.retry_on": """
RetryPolicy(retry_on(ConnectionError, immediate=2, delayed=3, backoff=0.5))
""",
    "interlink.testing.Handled": """
[handling] = h.handled("orders.created", service="orders")
assert handling.outcome == "ok" and handling.body["id"] == "o1"
""",
    "interlink.testing.Harness": """
async with interlink.testing.harness(bus) as h:
    await bus.serve(orders)
    await bus.publish("orders.created", {"id": "o1"})
    await h.settled()
    assert (await h.published("orders.validated")).body["id"] == "o1"
""",
    "interlink.testing.NotSettled": """
with pytest.raises(NotSettled):
    await h.settled(timeout=0.1)    # a handler still running
""",
    "interlink.testing.Recorded": """
event = await h.published("orders.validated")
assert event.body == {"id": "o1"} and event.headers["il-from"] == "orders"
""",
    "interlink.testing.TransportConformance": """
class TestMyBroker(TransportConformance):
    @pytest.fixture
    def broker_url(self) -> str:
        return "mybroker://127.0.0.1:9999"
""",
    "interlink.testing.harness": """
async with harness(bus, prefix=unique("t")) as h:   # names isolated on a shared broker
    ...
""",
    "interlink.testing.unique": """
svc = Service(unique("svc"))      # svc3f9a1c2e7b
""",
    "interlink.gateway.ApiKey": """
auth:
  api_keys:
    - {client: mobile, sha256: "9f86d0..."}
""",
    "interlink.gateway.Auth": """
auth: {jwt: {secret: "...", algorithms: [HS256]}, default: required}
""",
    "interlink.gateway.Compose": """
- path: /trips/{trip_id}
  compose: {parts: [{name: trip, request: trip.get}, {name: driver, request: driver.get, required: false}]}
""",
    "interlink.gateway.ConfigError": """
try:
    load_config(text="routes: [{path: nope}]")
except ConfigError as exc:
    print(exc)      # names the route and the field
""",
    "interlink.gateway.Cors": """
cors: {allow_origins: ["https://app.example.com"], allow_credentials: true}
""",
    "interlink.gateway.Fallback": """
parts: [{name: rating, request: rating.get, required: false, fallback: {body: {stars: null}}}]
""",
    "interlink.gateway.Gateway": """
gateway = await Gateway(load_config("gateway.yaml"), bus).start()   # an ASGI app
""",
    "interlink.gateway.GatewayConfig": """
config = load_config(data={"routes": [{"path": "/rides/{ride_id}", "request": "trip.get"}]})
""",
    "interlink.gateway.HttpServer": """
server = await HttpServer.start(gateway, "127.0.0.1", 8000)   # beside other work in one process
""",
    "interlink.gateway.Jwt": """
auth: {jwt: {jwks_url: "https://issuer.example.com/.well-known/jwks.json", audience: api}}
""",
    "interlink.gateway.Limits": """
limits: {max_body: 65536, body_timeout: 5}
""",
    "interlink.gateway.Part": """
parts: [{name: trip, request: trip.get, input: {trip_id: path.trip_id}}]
""",
    "interlink.gateway.RateLimit": """
rate_limit: {rate: 100, burst: 200}
""",
    "interlink.gateway.Resilience": """
resilience: {retries: 2, max_concurrent: 256}
""",
    "interlink.gateway.Route": """
routes:
  - {method: POST, path: /rides, request: trip.request}
  - {method: DELETE, path: "/rides/{ride_id}", notify: trip.cancel}
""",
    "interlink.gateway.load_config": """
config = load_config("gateway.yaml")        # or text=..., data=...
""",
    "interlink.gateway.main": """
python -m interlink.gateway gateway.yaml --broker nats://127.0.0.1:4222 --port 8000
""",
    "interlink.gateway.serve": """
await serve("gateway.yaml", "nats://127.0.0.1:4222", port=8000)   # until SIGINT/SIGTERM
""",
    "interlink.gateway.server_config": """
uvicorn_config = server_config(gateway, host="0.0.0.0", port=8000)
""",
}
