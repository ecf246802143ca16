#!/usr/bin/env python3
"""CloudWatch protocol bridge for tests: Smithy RPC v2 CBOR in front of moto.

aws-sdk-cloudwatch 1.100 and later speak Smithy RPC v2 CBOR
(POST /service/GraniteServiceVersion20100801/operation/<Op>, `smithy-protocol: rpc-v2-cbor`),
which moto does not accept. moto does accept the same operations over the awsJson1_0
protocol (X-Amz-Target: GraniteServiceVersion20100801.<Op>), which the service model also
lists. This bridge:

- decodes the CBOR request (gunzips it when the SDK compressed it), turns CBOR timestamps
  (tag 1) into epoch seconds and blobs into base64, and forwards it to moto as awsJson1_0
  with the original Authorization header (moto routes on its SigV4 scope);
- re-encodes moto's JSON reply as CBOR, driven by the botocore service model (timestamps as
  tag 1, doubles as floats, integers as integers), with the rpcv2 conventions: header
  `smithy-protocol: rpc-v2-cbor`, `Content-Type: application/cbor`, errors as a map with
  `__type` and `message`, and moto's `x-amzn-query-error` header passed through (the SDK
  reads the query-compatible error code from it).

Usage: cloudwatch_cbor_bridge.py --port PORT --upstream http://127.0.0.1:MOTO_PORT
GET on any path answers 200 (readiness probe).
"""

import argparse
import base64
import datetime as dt
import gzip
import json
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.session
import cbor2

TARGET_PREFIX = "GraniteServiceVersion20100801"
MODEL = botocore.session.get_session().get_service_model("cloudwatch")
UTC = dt.timezone.utc


def to_json(value):
    """CBOR-decoded request value -> JSON-protocol value."""
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    return value


def to_datetime(value):
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        text = value.replace("Z", "+00:00")
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            return dt.datetime.fromtimestamp(float(value), tz=UTC)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return value


def to_cbor(value, shape):
    """JSON reply value -> CBOR-ready value, typed by the output shape."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        out = {}
        for key, member in value.items():
            member_shape = shape.members.get(key)
            if member_shape is not None:
                out[key] = to_cbor(member, member_shape)
        return out
    if kind == "list":
        return [to_cbor(v, shape.member) for v in value]
    if kind == "map":
        return {k: to_cbor(v, shape.value) for k, v in value.items()}
    if kind == "timestamp":
        return to_datetime(value)
    if kind in ("double", "float"):
        return float(value)
    if kind in ("integer", "long"):
        return int(float(value))
    if kind == "boolean":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if kind == "blob":
        return base64.b64decode(value) if isinstance(value, str) else value
    return value


class Bridge(BaseHTTPRequestHandler):
    upstream = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: one line per request to stderr
        sys.stderr.write("bridge: " + (fmt % args) + "\n")

    def do_GET(self):
        self.reply(200, {"Content-Type": "text/plain"}, b"cloudwatch cbor bridge\n")

    def reply(self, status, headers, body):
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def cbor_error(self, status, code, message, query_error=None):
        headers = {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"}
        if query_error:
            headers["x-amzn-query-error"] = query_error
        body = cbor2.dumps({"__type": f"com.amazonaws.cloudwatch#{code}", "message": message})
        self.reply(status, headers, body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) != 4 or parts[0] != "service" or parts[2] != "operation":
            self.cbor_error(404, "UnknownOperationException", f"not an rpcv2 path: {self.path}")
            return
        operation = parts[3]
        try:
            op_model = MODEL.operation_model(operation)
        except Exception:  # botocore raises OperationNotFoundError
            self.cbor_error(404, "UnknownOperationException", f"unknown operation {operation}")
            return
        if "gzip" in (self.headers.get("Content-Encoding") or ""):
            raw = gzip.decompress(raw)
        params = cbor2.loads(raw) if raw else {}
        body = json.dumps(to_json(params or {})).encode()
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"{TARGET_PREFIX}.{operation}",
        }
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if self.headers.get(name):
                headers[name] = self.headers[name]
        request = urllib.request.Request(self.upstream + "/", data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                status, reply_headers, reply = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as err:
            status, reply_headers, reply = err.code, err.headers, err.read()
        except OSError as err:
            self.cbor_error(502, "InternalServiceError", f"moto unreachable: {err}")
            return
        if status >= 300:
            try:
                doc = json.loads(reply or b"{}")
            except ValueError:
                doc = {"message": reply.decode(errors="replace")}
            code = str(doc.get("__type", "InternalServiceError")).split("#")[-1]
            message = doc.get("message") or doc.get("Message") or ""
            self.cbor_error(status, code, message, reply_headers.get("x-amzn-query-error"))
            return
        doc = json.loads(reply or b"{}") if reply.strip() else {}
        out = to_cbor(doc, op_model.output_shape) if op_model.output_shape is not None else {}
        self.reply(
            200,
            {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"},
            cbor2.dumps(out or {}, datetime_as_timestamp=True, timezone=UTC),
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="moto server base URL")
    args = parser.parse_args()
    Bridge.upstream = args.upstream.rstrip("/")
    server = ThreadingHTTPServer((args.host, args.port), Bridge)
    print(f"cloudwatch cbor bridge on http://{args.host}:{args.port} -> {Bridge.upstream}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
