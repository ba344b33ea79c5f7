"""The interlink command, run in-process on the memory transport (exit codes and output)."""

import json

import pytest

from interlink.cli import main
from interlink.cli._common import INVALID, NO_RESPONDERS, OK, USAGE


def test_demo_completes_every_ride_on_memory(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--broker", "memory://cli-demo", "--rides", "8", "--http-rides", "2", "--json"]) == OK
    report = json.loads(capsys.readouterr().out)
    assert report["completed"] == 8
    assert report["http"]["completed"] == 2 and report["http"]["status_codes"]["POST /rides 202"] == 2
    styles = {row["style"]: row for row in report["styles"]}
    assert len(styles) == 5 and all(row["messages"] > 0 for row in styles.values())
    assert styles["publish/async responses"]["messages"] == (8 + 2) * 3  # three drivers answer each ride
    assert [s["subject"] for s in report["sequence"]][:2] == ["trip.request", "passenger.verify"]


def test_request_without_responders_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["request", "nobody.home", "{}", "--broker", "memory://cli-x"]) == NO_RESPONDERS
    assert "NoResponders" in capsys.readouterr().err


def test_bad_json_body_exits_6(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["publish", "a.b", "{nope", "--broker", "memory://cli-x"])
    assert exit_.value.code == INVALID
    assert "not valid JSON" in capsys.readouterr().err


def test_bad_subject_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["notify", "bad subject", "1", "--broker", "memory://cli-x"]) == USAGE
    assert "SubjectError" in capsys.readouterr().err


def test_no_broker_given_is_a_usage_error(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("INTERLINK_BROKER", raising=False)
    with pytest.raises(SystemExit) as exit_:
        main(["publish", "a.b", "1"])
    assert exit_.value.code == USAGE
    assert "INTERLINK_BROKER" in capsys.readouterr().err


def test_run_refuses_a_target_that_is_not_an_app(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["run", "interlink.examples.taxi.services:trip", "--broker", "memory://cli-x"])
    assert exit_.value.code == USAGE
    assert "not an interlink.App" in capsys.readouterr().err


async def _loop_module() -> int:
    import asyncio

    return 0 if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else 1


def test_serving_commands_run_on_uvloop_and_others_on_asyncio() -> None:
    pytest.importorskip("uvloop")
    from interlink.cli import parser
    from interlink.cli._common import run

    assert parser().parse_args(["gateway", "routes.yaml"]).serving is True
    assert parser().parse_args(["run", "interlink.examples.taxi.app:app"]).serving is True
    assert getattr(parser().parse_args(["request", "a.b", "{}"]), "serving", False) is False
    assert run(_loop_module(), serving=True) == 0
    assert run(_loop_module()) == 1


def test_without_uvloop_serving_falls_back_to_asyncio(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from interlink.cli._common import run

    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    assert run(_loop_module(), serving=True) == 1


@pytest.mark.parametrize("argv", [
    ["--broker", "memory://cli-g", "--json", "publish", "a.b", "1"],
    ["publish", "--broker", "memory://cli-g", "--json", "a.b", "1"],
    ["--json", "publish", "a.b", "1", "--broker", "memory://cli-g"],
])
def test_global_options_work_before_or_after_the_command(argv: list[str],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == OK
    assert json.loads(capsys.readouterr().out)["subject"] == "a.b"


def test_global_options_reach_nested_commands() -> None:
    from interlink.cli import parser

    for argv in (["--json", "--broker", "nats://h:1", "dlq", "list"], ["dlq", "list", "--json", "--broker", "nats://h:1"],
                 ["dlq", "--broker", "nats://h:1", "list", "--json"]):
        args = parser().parse_args(argv)
        assert (args.json, args.broker, args.verbose) == (True, "nats://h:1", False), argv
    assert parser().parse_args(["-v", "dlq", "purge"]).verbose is True


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == OK
    assert capsys.readouterr().out.startswith("interlink ")


@pytest.mark.parametrize("argv", [[], ["nosuchcommand"], ["request"], ["dlq"], ["run", "x:y", "--nope"],
                                  ["demo", "--rides", "many"], ["demo", "--rides", "-3"], ["demo", "--timeout", "nan"],
                                  ["request", "a.b", "--timeout", "0"], ["run", "x:y", "--grace", "-1"],
                                  ["gateway", "r.yaml", "--port", "70000"]])
def test_usage_errors_are_one_line_and_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err


def test_an_unknown_url_scheme_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["publish", "a.b", "1", "--broker", "kafka://localhost:9092"]) == USAGE
    err = capsys.readouterr().err
    assert "unknown broker URL scheme 'kafka'" in err and "Traceback" not in err and err.count("\n") == 1


def _leaf_commands(p: object, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    import argparse

    found = []
    for action in getattr(p, "_actions", []):
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found.extend(_leaf_commands(child, (*path, name)) or [((*path, name), child)])
    return found


def test_every_command_takes_the_global_options_after_its_name() -> None:
    """A sub-command added later must pass ``parents=[common_options(defaults=False)]`` too."""
    from interlink.cli import parser

    leaves = _leaf_commands(parser())
    assert len(leaves) >= 15
    for path, command in leaves:
        options = {o for action in getattr(command, "_actions", []) for o in action.option_strings}
        assert {"--broker", "--json", "-v"} <= options, " ".join(path)
