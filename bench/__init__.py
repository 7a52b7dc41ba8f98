"""`make bench` (``python -m bench``): side-by-side figures for the cache, the batching and the ceilings.

``run`` (the orchestration), ``results`` (the typed records), ``calls`` (DynamoDB
calls per request vs a naive client), ``ceiling`` (the emulators' raw call rates),
``bare_app`` (a bare Django JSON view: the HTTP ceiling), ``materialize`` (model
instances from raw items: ours vs boto3 vs PynamoDB), ``report`` (tables and chart).
"""
