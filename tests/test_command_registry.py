"""One registry of slash commands (``tui.slash_commands``): /help, the input
line's suggestions, the command palette and the ``[keymap]`` table all list
the same commands, each collected from the running app; a key remapped in
the config file's ``[keymap]`` table works, and a bad entry is refused."""
from __future__ import annotations

from textual.command import CommandPalette

from tests.tui_fixtures import (  # noqa: F401  (quiet_terminal: an autouse fixture)
    SIZE,
    Injector,
    Recorder,
    last_line,
    loop_screen,
    quiet_terminal,
    submit,
    tui_config,
    wait_for,
)
from reflectloop.tui.app import ReflectLoopApp
from reflectloop.tui.cli import build_parser, main, tui_app
from reflectloop.tui.palette import SlashCommandsProvider
from reflectloop.tui.slash_commands import COMMANDS
from reflectloop.tui.widgets.scores import ScoresPanel

EVERY = {c.name for c in COMMANDS}


def first_words(lines) -> set[str]:
    return {line.split()[0].lstrip("/") for line in lines if line.strip()}


async def test_help_suggestions_palette_and_keymap_list_the_same_commands(tmp_path):
    # Every command given a key in the [keymap] table (f3, f4, ...): the screen binds each.
    keymap = {f"/{c.name}": f"f{i + 3}" for i, c in enumerate(COMMANDS)}
    app = ReflectLoopApp(config=tui_config(), session=tmp_path / "r.session", injected=Injector(), keymap=keymap)
    async with app.run_test(size=SIZE) as pilot:
        screen = loop_screen(app)
        await wait_for(pilot, lambda: "ready" in last_line(screen), what="the new session")
        await submit(pilot, "/help")
        shown = last_line(screen).split("\n")
        in_help = first_words(line for line in shown if line.startswith("  /"))
        suggested = first_words(screen.command_line.suggester._suggestions)
        assert SlashCommandsProvider in screen.COMMANDS
        in_palette = first_words([hit.text async for hit in SlashCommandsProvider(screen).discover()])
        keyed = {b.binding.id[1:] for b in screen.active_bindings.values()
                 if b.binding.id and b.binding.id.startswith("/")}
        assert in_help == suggested == in_palette == keyed == EVERY
        assert "skip" in in_help  # once offered by the suggestions only
        await pilot.press("escape", "q")


async def test_a_command_runs_from_the_palette(tmp_path):
    app = ReflectLoopApp(config=tui_config(), session=tmp_path / "p.session", injected=Injector())
    async with app.run_test(size=SIZE) as pilot:
        screen = loop_screen(app)
        await wait_for(pilot, lambda: "ready" in last_line(screen), what="the new session")
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette")
        await pilot.press(*"/withdraw")
        await pilot.pause(0.5)  # the palette searches in a worker
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: "nothing to withdraw" in last_line(screen), what="/withdraw to run")
        await pilot.press("q")


async def test_a_remapped_key_works(tmp_path):
    keymap = {"scores": "f3", "accept": "y", "/help": "f4", "/method": "f5"}
    app = ReflectLoopApp(config=tui_config(), session=tmp_path / "k.session", injected=Injector(), keymap=keymap)
    async with app.run_test(size=SIZE) as pilot:
        screen = loop_screen(app)
        await wait_for(pilot, lambda: "ready" in last_line(screen), what="the new session")
        panel = screen.query_one(ScoresPanel)
        await pilot.press("f2")  # no longer bound
        await pilot.pause()
        assert not panel.display
        await pilot.press("f3")
        await pilot.pause()
        assert panel.display
        await pilot.press("f4")  # a command with a key runs as if typed
        await wait_for(pilot, lambda: last_line(screen).startswith("commands"), what="the help")
        assert "y accept" in last_line(screen) and "f3 shows the scores" in last_line(screen)  # the keys as remapped
        await pilot.press("f5")  # one that needs an argument: typed into the input line
        await pilot.pause()
        assert app.focused is screen.command_line and screen.command_line.value == "/method "
        await pilot.press("escape", "q")


def test_the_config_file_keymap_reaches_the_app_beside_the_settings(tmp_path, monkeypatch):
    user = tmp_path / "config.toml"
    user.write_text('steps = 3\n[keymap]\nscores = "f3"\n"/audit" = "f4"\n')
    monkeypatch.setenv("REFLECTLOOP_CONFIG", str(user))
    app = tui_app(build_parser().parse_args(["tui", "--task", "toy"]))
    assert app.config.steps == 3
    assert app.command_keys == {"audit": "f4"} and app.action_keys == {"scores": "f3"}


def test_bad_keymap_entries_are_refused_with_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("REFLECTLOOP_CONFIG", str(tmp_path / "none.toml"))
    for table, said in [('audit = "f4"', 'no \'audit\' (the command is "/audit")'),
                        ('scores = 3', "scores = 3 is not a key"),
                        ('"/help" = "n"', "'n': that key is already next's"),
                        ('"/help" = "f3"\nscores = "f3"', "that key is already")]:
        config = tmp_path / "bad.toml"
        config.write_text(f"[keymap]\n{table}\n")
        assert main(["tui", "--config", str(config)]) == 2
        assert said in capsys.readouterr().err


def test_a_packet_suggests_only_the_commands_it_has():
    from reflectloop.tui.slash_commands import available
    from reflectloop.tui.widgets.input.command_line import suggestions

    packet = suggestions("packet")
    assert {s.split()[0] for s in packet} == {f"/{c.name}" for c in available("packet")}
    assert "/run " not in packet and "/run " in suggestions("loop")
