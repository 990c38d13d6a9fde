"""The benchmark's report logic: budgets judged from medians, peer lines, llm's configuration.

The benchmark itself is run by hand (`python tests/benchmark.py`); these checks keep its
arithmetic and its set-up of the peer honest without timing anything.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests import benchmark
from tests.benchmark import Line, Results, Series


def results_of(values: dict[str, dict[str, list[float]]]) -> Results:
    return {
        measure: {name: Series(samples=list(samples)) for name, samples in by_name.items()}
        for measure, by_name in values.items()
    }


def line(lines: list[Line], measure: str) -> Line:
    return next(item for item in lines if item.measure == measure)


def test_a_ratio_within_budget_passes_and_one_beyond_fails() -> None:
    lines = benchmark.budget_lines(
        results_of(
            {
                "paced:cpu": {"meilichat": [1.40, 1.45, 1.50], "bare httpx": [1.0, 1.0, 1.0]},
                "repl:prompt": {"meilichat chat": [0.130], "bare prompt_toolkit": [0.100]},
            }
        )
    )
    assert line(lines, "paced 100 tokens/s × 2,000, CPU").verdict == "PASS"
    assert line(lines, "paced 100 tokens/s × 2,000, CPU").ratio == "1.45×"
    assert line(lines, "REPL start → prompt").verdict == "FAIL"
    assert line(lines, "--version, cold").verdict == "n/a"  # not measured: not judged


def test_the_first_token_line_shows_what_a_bare_httpx_client_takes_over_curl() -> None:
    lines = benchmark.budget_lines(
        results_of({"ttft": {"curl": [0.31], "meilichat": [0.43], "bare httpx": [0.45]}})
    )
    assert line(lines, "first token, server waits 300 ms").ratio == "+120 ms"
    assert line(lines, "first token, server waits 300 ms").verdict == "FAIL"
    bare = line(lines, "  a bare httpx client, same request")
    assert (bare.meilichat, bare.ratio, bare.verdict) == ("450 ms", "+140 ms", "info")


def test_a_failed_contender_has_no_median() -> None:
    series = Series(samples=[1.0, 2.0], error="exited 1")
    assert series.median is None
    assert Series(samples=[3.0, 1.0, 2.0]).median == 2.0


def test_the_marginal_cost_per_token_is_the_slope_of_a_least_squares_fit() -> None:
    intercept, slope = benchmark.fit([(500.0, 0.3), (2000.0, 0.45), (8000.0, 1.05)])
    assert abs(slope - 1e-4) < 1e-9 and abs(intercept - 0.25) < 1e-6


def long_cpu(cost: Callable[[int], float]) -> dict[str, dict[str, list[float]]]:
    """CPU seconds of meilichat's long answers, three runs of each size, from cost(tokens)."""
    return {f"long{n}:cpu": {"meilichat": [cost(n)] * 3} for n in benchmark.LONG_SIZES}


def test_rendering_is_flat_when_the_second_half_costs_no_more_per_token_than_the_first() -> None:
    linear = benchmark.budget_lines(results_of(long_cpu(lambda n: 0.3 + 35e-6 * n)))
    assert line(linear, "marginal CPU per token (fit 500→8,000)").verdict == "PASS"
    assert line(linear, "marginal CPU per token (fit 500→8,000)").meilichat == "35 µs/token"
    assert line(linear, "  early 500→4,000 / late 4,000→8,000").meilichat == "35 / 35 µs/token"


def test_rendering_that_redoes_work_per_token_is_not_flat() -> None:
    # A quadratic term that doubles the per-token work by 8,000 tokens: the late half costs
    # 1.6 times the early one per token.
    quadratic = benchmark.budget_lines(
        results_of(long_cpu(lambda n: 0.3 + 35e-6 * n + 35e-6 * n * n / 8000))
    )
    assert line(quadratic, "marginal CPU per token (fit 500→8,000)").verdict == "FAIL"


def test_a_slope_that_falls_in_the_second_half_is_flat_enough() -> None:
    # Noise in the 4,000-token median makes the late half look cheaper: not a rendering fault.
    points = {500: 0.30, 2000: 0.36, 4000: 0.45, 8000: 0.52}
    lines = benchmark.budget_lines(results_of(long_cpu(points.__getitem__)))
    assert line(lines, "marginal CPU per token (fit 500→8,000)").verdict == "PASS"


def test_peer_lines_appear_only_when_llm_was_measured() -> None:
    assert benchmark.peer_lines({}) == []
    lines = benchmark.peer_lines(
        results_of(
            {
                "peers:ttft": {"curl": [0.31], "meilichat": [0.45], "llm": [0.86]},
                "peers:long:cpu": {"bare httpx": [0.27], "meilichat": [0.6], "llm": [1.89]},
            }
        )
    )
    assert line(lines, "peer: first token, llm").ratio == "llm 860 ms (+550 ms)"
    assert line(lines, "peer: 8,000-token answer CPU, llm").ratio == "llm 1890 ms (7.00×)"


def test_llm_gets_one_private_model_per_scenario(tmp_path: Path) -> None:
    class Server:
        url = "http://127.0.0.1:7700"
        workspace = "movies"
        chat_key = "key"

    bench = benchmark.Bench(
        server=Server(),  # type: ignore[arg-type]
        python=Path("/usr/bin/python3"),
        meilichat=["meilichat"],
        env={},
        workdir=tmp_path,
        repeat=1,
        progress=print,
    )
    env = benchmark.llm_environment(bench, Server())  # type: ignore[arg-type]
    home = Path(env["LLM_USER_PATH"])
    models = (home / "extra-openai-models.yaml").read_text()
    for kind, scenario in benchmark.LLM_MODELS.items():
        assert f'model_id: "bench-{kind}"' in models
        assert f'model_name: "{scenario}"' in models
    assert 'api_base: "http://127.0.0.1:7700/chats/movies"' in models
    assert (home / "keys.json").read_text() == '{"bench": "key"}'
    assert env["MEILICHAT_URL"] == Server.url


def test_short_groups_run_three_times_the_rounds_of_the_slow_ones() -> None:
    assert benchmark.rounds("long", 7) == 21
    assert benchmark.rounds("ttft", 3) == 9
    assert benchmark.rounds("paced", 7) == 7
    assert benchmark.rounds("batch", 7) == 7
    assert benchmark.runs_each(7) == "7 runs each (21 for startup, ttft, long, repl)"
