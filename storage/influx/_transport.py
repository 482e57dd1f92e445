"""HTTP to InfluxDB: line-protocol writes (``/write`` or ``/api/v2/write``) and ``/query``.

Errors: no connection, timeouts, 5xx, 401/403 (credentials), 404 (no database), 408 and 429
raise ``StoreUnavailable`` (the data is fine; retry later); other 4xx (unparsable line, field
type conflict, beyond retention) raise ``StoreRejected`` with the server's message.
"""

from __future__ import annotations

import re
from typing import Any, Final, Literal

import httpx

from storage.clock import SECOND_MS
from storage.influx._influxql import checked_results, quote_ident
from storage.telemetry import StoreRejected, StoreUnavailable

_UNAVAILABLE_4XX: Final = frozenset({401, 403, 404, 408, 429})
# InfluxDB 1.x (tsdb/shard.go, 1.6 to 1.8) answers a write whose points partly clash with the
# shard's field types with 400 and ``partial write: field type conflict: input field "vwc_pct"
# on measurement "telemetry" is type float, already exists as type integer dropped=3``: the
# other points are written, the points holding a clashing field are dropped whole, and only
# the first clash is named (``dropped`` counts all of them).
_FIELD_TYPE_CONFLICT: Final = re.compile(
    r'partial write: field type conflict: input field "(?P<field>(?:[^"\\]|\\.)*)" on '
    r'measurement "(?:[^"\\]|\\.)*" is type \w+, already exists as type \w+'
    r'.*?dropped=(?P<dropped>\d+)', re.DOTALL)


class FieldTypeConflict(StoreRejected):
    """InfluxDB wrote a batch partly: it dropped the points holding ``field``, which the
    shard already has with another type (``dropped`` points in all; more fields may clash)."""

    def __init__(self, message: str, field: str, dropped: int) -> None:
        super().__init__(message)
        self.field = field
        self.dropped = dropped


class Transport:
    """One server's HTTP connections: API v1 (``database``, optional basic auth) or API v2
    (``org``, ``bucket``, ``token``; reads from the v1-compatible ``/query`` of ``database``).

    ``timeout_s`` bounds each request [s]; API v1 creates a missing database on the first
    write when ``auto_create``.
    """

    def __init__(
        self,
        base_url: str,
        database: str,
        *,
        api: Literal["v1", "v2"],
        username: str | None,
        password: str | None,
        org: str,
        bucket: str,
        token: str,
        timeout_s: float,
        max_connections: int,
        auto_create: bool,
    ) -> None:
        self.base_url = base_url
        self.database = database
        self.api = api
        self._org, self._bucket, self._token = org, bucket, token
        self._timeout_s = timeout_s
        self._auto_create = auto_create and api == "v1"
        headers = {"Authorization": f"Token {token}"} if api == "v2" else {}
        self._http = httpx.Client(
            base_url=base_url,
            headers=headers,
            auth=(username, password or "") if username else None,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0)),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )
        self._v2: Any = None  # (InfluxDBClient, WriteApi), created on first v2 write

    def close(self) -> None:
        """Close the connection pools."""
        self._http.close()
        if self._v2 is not None:
            client, write_api = self._v2
            write_api.close()
            client.close()
            self._v2 = None

    # -- writes --

    def write(self, lines: list[str], *, retention_policy: str | None = None) -> None:
        """Send one request of line-protocol ``lines`` and wait for the server's answer; into
        ``retention_policy`` instead of the database's default one (API v1 only)."""
        if self.api == "v1":
            self._write_v1("\n".join(lines).encode(), retention_policy)
        else:
            self._write_v2(lines)

    def create_database(self) -> None:
        """``CREATE DATABASE`` (API v1; a no-op when it exists)."""
        self.query(f"CREATE DATABASE {quote_ident(self.database)}", with_db=False)

    def _write_v1(self, body: bytes, retention_policy: str | None) -> None:
        params = {"db": self.database, "precision": "ms"}
        if retention_policy is not None:
            params["rp"] = retention_policy
        response = self._post("/write", params=params, content=body)
        if response.status_code == 404 and self._auto_create:
            self.create_database()
            response = self._post("/write", params=params, content=body)
        _raise_for_status(response)

    def _write_v2(self, lines: list[str]) -> None:
        from influxdb_client.client.exceptions import InfluxDBError
        from influxdb_client.domain.write_precision import WritePrecision
        from influxdb_client.rest import ApiException
        from urllib3.exceptions import HTTPError as Urllib3Error

        write_api = self._v2_write_api()
        try:
            write_api.write(self._bucket, self._org, record=lines, write_precision=WritePrecision.MS)
        except ApiException as exc:
            _raise_for_code(int(exc.status or 0), _api_message(exc))
        except InfluxDBError as exc:  # pragma: no cover - raised without a status
            raise StoreUnavailable(f"InfluxDB write failed: {exc}") from exc
        except (Urllib3Error, OSError) as exc:
            raise StoreUnavailable(f"cannot reach {self.base_url}: {exc}") from exc

    def _v2_write_api(self) -> Any:
        if self._v2 is None:
            from influxdb_client.client.influxdb_client import InfluxDBClient
            from influxdb_client.client.write_api import SYNCHRONOUS

            client = InfluxDBClient(
                url=self.base_url,
                token=self._token,
                org=self._org,
                timeout=int(self._timeout_s * SECOND_MS),
            )
            self._v2 = (client, client.write_api(write_options=SYNCHRONOUS))
        return self._v2[1]

    # -- reads --

    def query(self, text: str, *, with_db: bool = True) -> list[dict[str, Any]]:
        """Run InfluxQL; one result dict per statement. A missing database reads as empty."""
        data = {"q": text, "epoch": "ms"}
        if with_db:
            data["db"] = self.database
        response = self._post("/query", data=data)
        _raise_for_status(response)
        try:
            answer = response.json()
        except ValueError as exc:
            raise StoreUnavailable(f"not an InfluxQL answer from {self.base_url}") from exc
        if not isinstance(answer, dict):
            raise StoreUnavailable(f"not an InfluxQL answer from {self.base_url}")
        return checked_results(answer)

    def _post(
        self,
        path: str,
        *,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
        data: dict[str, str] | None = None,
    ) -> httpx.Response:
        try:
            return self._http.post(path, params=params, content=content, data=data)
        except httpx.HTTPError as exc:  # refused, reset, timeout, protocol, decoding
            raise StoreUnavailable(f"cannot reach {self.base_url}: {exc!r}") from exc
        except RuntimeError as exc:  # httpx: "Cannot send a request, as the client has been closed"
            raise StoreUnavailable(f"store is closed: {exc}") from exc


def _raise_for_status(response: httpx.Response) -> None:
    if response.status_code < 300:
        return
    try:
        message = str(response.json().get("error", response.text))
    except ValueError:
        message = response.text
    _raise_for_code(response.status_code, message)


def _raise_for_code(status: int, message: str) -> None:
    """Map an HTTP error status to the store's exceptions."""
    text = f"InfluxDB answered {status}: {message.strip()[:500]}"
    if 400 <= status < 500 and status not in _UNAVAILABLE_4XX:
        clash = _FIELD_TYPE_CONFLICT.search(message)
        if clash is not None:
            field = re.sub(r"\\(.)", r"\1", clash["field"])
            raise FieldTypeConflict(text, field, int(clash["dropped"]))
        raise StoreRejected(text)
    raise StoreUnavailable(text)


def _api_message(exc: Any) -> str:
    message = getattr(exc, "message", None)
    if message:
        return str(message)
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    return str(body or exc.reason or "")
