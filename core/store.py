"""For store authors: the protocol, the records and the shared rules.

A back end implements :class:`Store` (sync) and/or :class:`AsyncStore`; the
contract each method keeps is documented on the async protocol
(``agentsession._async.protocol``), of which the sync protocol is the generated
twin. A store written in Python should use :func:`place_entries`,
:func:`check_expected_head` and :func:`is_expired` rather than re-deriving
them, and prove itself with :mod:`agentsession.testing`. Register a URL
scheme with :func:`register_store`. A store over a blocking driver can be
written once, sync, and given its async face by :class:`AsyncBridge` with a
runner (how the built-in SQLite and file stores are made).
"""

from __future__ import annotations

from ._async.bridge import STORE_METHODS, AsyncBridge, AsyncCallRunner
from ._async.protocol import AsyncStore
from ._async.scan import AsyncScanSearch
from ._async.scan import scan_search as async_scan_search
from ._canonical import (
    StoredJSON,
    canonical_json,
    chain_checksum,
    chain_steps,
    checksum,
    entry_digest,
    load_json_object,
)
from ._exceptions import map_exceptions
from ._ids import validate_id
from ._models import Checkpoint, Entry, NewEntry, SessionExport, SessionInfo, Unchecked, same_export
from ._registry import register_store
from ._rules import (
    check_expected_head,
    check_revision,
    expiry_after_write,
    is_async_store,
    is_expired,
    new_session_info,
    place_entries,
    prepare_entry,
    with_checksums,
)
from ._search import SCAN_SESSIONS, HitCollector, SearchQuery, message_text
from ._sync.bridge import Bridge, CallRunner
from ._sync.protocol import Store
from ._sync.scan import ScanSearch, scan_search

__all__ = [
    "SCAN_SESSIONS",
    "STORE_METHODS",
    "AsyncBridge",
    "AsyncCallRunner",
    "AsyncScanSearch",
    "AsyncStore",
    "Bridge",
    "CallRunner",
    "Checkpoint",
    "Entry",
    "HitCollector",
    "NewEntry",
    "ScanSearch",
    "SearchQuery",
    "SessionExport",
    "SessionInfo",
    "Store",
    "StoredJSON",
    "Unchecked",
    "async_scan_search",
    "canonical_json",
    "chain_checksum",
    "chain_steps",
    "check_expected_head",
    "check_revision",
    "checksum",
    "entry_digest",
    "expiry_after_write",
    "is_async_store",
    "is_expired",
    "load_json_object",
    "map_exceptions",
    "message_text",
    "new_session_info",
    "place_entries",
    "prepare_entry",
    "register_store",
    "same_export",
    "scan_search",
    "validate_id",
    "with_checksums",
]
