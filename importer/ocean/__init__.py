"""The Ocean client: the GeoMission calls over HTTP (``client``), how a flaky service is coped
with (``resilience``: retries and the circuit breaker), how fast Ocean is called (``pacing``),
and how its answers are read (``answers``). Only this package speaks HTTP; the pipeline's
stages use it, the faces never do.

Nothing is imported here, so that reading ``answers`` does not load httpx."""
