"""The line latency benchmark runs end to end (its figures are in docs/BENCHMARKS.md)."""

from __future__ import annotations

from line_fixtures import register_meandiff


def test_line_bench_measures_every_part(monkeypatch, capsys, tmp_path):
    import json

    from inspector.line.bench import main

    register_meandiff(monkeypatch)
    assert main(["--engine", "meandiff", "--size", "64", "--refs", "2", "--n", "4",
                 "--interval", "0.05", "--json", str(tmp_path / "b.json")]) == 0
    out = json.loads((tmp_path / "b.json").read_text())
    assert out["parts"] == 4 and out["size"] == 64
    lat = out["trigger_to_verdict_ms"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["max"]
    assert lat["p50"] >= out["engine_ms"]["p50"]  # the trigger comes before the engine runs
    assert "trigger-to-verdict p50" in capsys.readouterr().out
