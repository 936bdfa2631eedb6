import pytest, time, json
from tests.agent.test_browse import *
from tests.agent.support import CALLER
pytestmark = pytest.mark.anyio

async def test_timing(app, fake, shop, claude):
    def policy(request):
        url = page_url(request)
        if url.endswith("/agent/search.html"):
            return tool("type", index=index(request, "name=q"), text="earbuds", submit=True)
        if "/agent/results.html" in url:
            return tool("click", index=index(request, "Wireless Earbuds X"))
        return tool("done", result="x")
    fake.policy = policy
    for i in range(2):
        t=time.monotonic()
        job = await app.run_task(CALLER, "t", llm=claude, initial_url=shop.url("/agent/search.html"))
        job = await ended(app, job.id)
        print("total", time.monotonic()-t)
        ev = (await app.get_job(CALLER, job.id, events_after=0, events_limit=100)).events
        t0 = ev[0].created_at
        for e in ev:
            print(round(e.created_at - t0, 3), e.type, {k: e.data.get(k) for k in ("llm_ms","act_ms","action")})
