"""The use cases: what the JSON API and the pages do, once.

Plain functions, one module per area, taking a metadata DB session, the caller (``Principal``)
and typed inputs (and the store or ``ApiServices`` where needed) and returning domain objects.
They know nothing of HTTP: they raise ``storage.errors`` kinds and let store errors through,
and ``api.errors`` maps both for either surface. ``api.routes`` (JSON) and ``api.web.routes``
(pages) are thin adapters over them and never import each other. Scope (who sees which
farms, out of scope = not found) lives in ``api.usecases.scope``.
"""
