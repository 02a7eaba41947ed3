#!/usr/bin/env python3
"""Writes deploy/grafana/postern.json, the Grafana dashboard for Postern's /stats/prometheus metrics.

Run it after changing a panel: python3 deploy/grafana/generate.py. ObservabilityTest checks that every metric
a panel queries is one Postern exports, so the dashboard cannot drift from the code.
"""
import json
import os

PANELS = [
    # (title, unit, [(legend, PromQL)])
    ("Requests by status class", "reqps",
     [("{{code_class}}", 'sum by (code_class) (rate(gateway_downstream_requests_total{instance=~"$instance"}[1m]))')]),
    ("Requests by route (top 10)", "reqps",
     [("{{route}}", 'topk(10, sum by (route) (rate(gateway_downstream_requests_total{instance=~"$instance"}[1m])))')]),
    ("Request duration p50 / p99", "s",
     [("p50", 'histogram_quantile(0.5, sum by (le) (rate(gateway_downstream_request_duration_seconds_bucket{instance=~"$instance"}[5m])))'),
      ("p99", 'histogram_quantile(0.99, sum by (le) (rate(gateway_downstream_request_duration_seconds_bucket{instance=~"$instance"}[5m])))')]),
    ("Proxy errors by Envoy response flag", "reqps",
     [("{{flag}}", 'sum by (flag) (rate(gateway_proxy_errors_total{instance=~"$instance"}[1m]))')]),
    ("Downstream connections and streams", "short",
     [("connections", 'sum(gateway_downstream_connections_active{instance=~"$instance"})'),
      ("HTTP/2 streams", 'sum(gateway_downstream_streams_active{instance=~"$instance"})')]),
    ("Connections rejected and overload", "short",
     [("rejected {{reason}}", 'sum by (reason) (rate(gateway_downstream_connections_rejected_total{instance=~"$instance"}[1m]))'),
      ("overload active", 'max(gateway_overload_active{instance=~"$instance"})'),
      ("timeouts {{kind}}", 'sum by (kind) (rate(gateway_downstream_timeouts_total{instance=~"$instance"}[1m]))')]),
    ("Upstream requests by cluster", "reqps",
     [("{{cluster}} {{code_class}}", 'sum by (cluster, code_class) (rate(gateway_upstream_requests_total{instance=~"$instance"}[1m]))')]),
    ("Upstream duration p99 by cluster", "s",
     [("{{cluster}}", 'histogram_quantile(0.99, sum by (cluster, le) (rate(gateway_upstream_request_duration_seconds_bucket{instance=~"$instance"}[5m])))')]),
    ("Upstream connect failures, retries, overflows, ejections", "short",
     [("connect failure {{kind}}", 'sum by (kind) (rate(gateway_upstream_connect_failures_total{instance=~"$instance"}[1m]))'),
      ("retries", 'sum(rate(gateway_upstream_retries_total{instance=~"$instance"}[1m]))'),
      ("overflow {{breaker}}", 'sum by (breaker) (rate(gateway_upstream_overflows_total{instance=~"$instance"}[1m]))'),
      ("ejections", 'sum(rate(gateway_upstream_ejections_total{instance=~"$instance"}[1m]))')]),
    ("Upstream connections and endpoint health", "short",
     [("pooled connections", 'sum(gateway_upstream_connections_active{instance=~"$instance"})'),
      ("unhealthy endpoints", 'max(gateway_upstream_unhealthy_endpoints{instance=~"$instance"})'),
      ("health checks {{result}}", 'sum by (result) (rate(gateway_upstream_health_checks_total{instance=~"$instance"}[1m]))')]),
    ("TLS handshakes", "short",
     [("handshakes", 'sum(rate(gateway_downstream_tls_handshakes_total{instance=~"$instance"}[1m]))'),
      ("errors {{reason}}", 'sum by (reason) (rate(gateway_downstream_tls_handshake_errors_total{instance=~"$instance"}[1m]))'),
      ("default certificate {{cause}}", 'sum by (cause) (rate(gateway_downstream_tls_default_certificate_total{instance=~"$instance"}[1m]))')]),
    ("Config reloads and propagation", "short",
     [("reloads {{result}}", 'sum by (result) (increase(gateway_config_reloads_total{instance=~"$instance"}[5m]))'),
      ("version", 'max(gateway_config_version{instance=~"$instance"})'),
      ("build p99 (s)", 'histogram_quantile(0.99, sum by (le) (rate(gateway_config_build_seconds_bucket{instance=~"$instance"}[15m])))'),
      ("propagation p99 (s)", 'histogram_quantile(0.99, sum by (le) (rate(gateway_config_propagation_seconds_bucket{instance=~"$instance"}[15m])))')]),
    ("TPROXY (BPF counters)", "pps",
     [("{{counter}}", 'sum by (counter) (rate(gateway_tproxy_packets_total{instance=~"$instance"}[1m]))')]),
    ("Access log lines dropped, UDP datagrams dropped", "short",
     [("access log", 'max(gateway_access_log_dropped{instance=~"$instance"})'),
      ("udp {{reason}}", 'sum by (reason) (rate(gateway_udp_datagrams_dropped_total{instance=~"$instance"}[1m]))')]),
]


def panel(i, title, unit, targets):
    return {
        "id": i + 1,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
        "targets": [{"refId": chr(ord("A") + j), "expr": e, "legendFormat": l} for j, (l, e) in enumerate(targets)],
    }


def main():
    dash = {
        "title": "Postern",
        "uid": "postern",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "tags": ["postern", "gateway-api"],
        "templating": {"list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"},
            {"name": "instance", "type": "query", "label": "Instance", "includeAll": True, "multi": True,
             "allValue": ".*", "datasource": {"type": "prometheus", "uid": "${datasource}"},
             "query": "label_values(gateway_config_version, instance)", "refresh": 2},
        ]},
        "panels": [panel(i, *p) for i, p in enumerate(PANELS)],
    }
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "postern.json")
    with open(out, "w") as f:
        json.dump(dash, f, indent=2)
        f.write("\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
