"""`make bench` (``python -m bench``): side-by-side figures for the cache, the batching and the ceilings.

Modules: ``run`` (the orchestration), ``calls`` (DynamoDB calls per request vs
a naive client), ``ceiling`` (raw GetItem rate of the emulator),
``bare_app`` (a bare Django JSON view for the HTTP ceiling),
``materialize`` (model instances from raw items: ours vs boto3 vs PynamoDB),
``report`` (reports/bench.md and reports/bench.png).
"""
