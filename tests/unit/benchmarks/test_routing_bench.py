"""The routing benchmark's generator and figures at a small size (the real figures are in
bench/RESULTS.md): the graph has the shape asked for and routes are found on it."""

from __future__ import annotations

from vajra.benchmarks.routing import build_graph, channel_specs, run


def test_synthetic_graph_shape() -> None:
    specs = channel_specs(3000, 900, seed=7)
    assert len(specs) == 3000 and all(a != b for a, b, _ in specs)
    g = build_graph(specs, seed=7)
    assert g.channel_count == 3000 and g.node_count == 900
    degrees = sorted(len(a) for a in g.node_in if a)
    assert degrees[len(degrees) // 2] <= 6 < degrees[-1] // 5  # hubs and a long tail
    assert channel_specs(3000, 900, seed=7) == specs  # seeded


def test_run_reports_every_figure() -> None:
    out = run(1000, 300, 10, seed=3)
    assert out["channels"] == 1000 and out["route_pairs"] == 10
    assert out["routes_found"] >= 8
    assert 50 < out["graph_bytes_per_channel"] < 400
    assert out["route_ms_p50"] > 0 and out["gossip_updates_per_s"] > 0
