"""The sweep's progress view: whole plain lines off a terminal, a live table on one."""

import io
import re

from orchestrator.report.progress import ProgressView
from orchestrator.spec.schema import Dimension
from orchestrator.spec.space import SearchSpace
from workers.config import TrialConfig
from workers.messages import TrialRequest

SPACE = SearchSpace(
    {
        "method.w": Dimension(low=0, high=10),
        "method.d": Dimension(low=0, high=2, when={"method.mixture": True}),
        "method.outlier_vocab": Dimension(choices=["random_words", "wordnet_near_ood"]),
        "method.resample_every": Dimension(choices=["step", "epoch"]),
    }
)
LONG = {
    "method.w": 6.4589,
    "method.d": 0.8752,
    "method.outlier_vocab": "wordnet_near_ood",
    "method.resample_every": "epoch",
}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def request(overrides, point=None):
    fixed = {"train.epochs": 2, "train.weight_epochs": 1, "method.mixture": True}
    trial = TrialConfig().with_overrides(fixed)
    return TrialRequest(trial, overrides, point)


def test_plain_lines_are_whole_and_count_done_elapsed_and_time_left():
    out, clock = io.StringIO(), Clock()
    view = ProgressView(4, SPACE, stream=out, live=False, clock=clock)
    view.start("a", 3, request(LONG))
    view.epoch("a", 1, 1, 62.731, 15.41)
    view.epoch("a", 3, 2, 63.0, 14.0)
    clock.now = 60.0
    view.end("a", "DONE", {"hm": 63.0, "ece": 14.0, "test_hm": 67.8, "test_ece": 7.2})
    lines = out.getvalue().splitlines()
    assert lines[0].endswith(
        "#3] started: w=6.46 d=0.875 outlier_vocab=wordnet_near_ood resample_every=epoch"
    )
    assert "epoch 1/3 (prompt)  hm  62.73  ece  15.41" in lines[1]
    assert "epoch 3/3 (weights)" in lines[2]
    assert "DONE  hm  63.00  ece  14.00  (test hm 67.80, ece 7.20)" in lines[3]
    assert lines[4] == "progress: 1/4 done, 1 min 0 s elapsed, about 3 min 0 s left"
    assert not any("\x1b" in line for line in lines)


def test_live_table_redraws_in_place_and_never_cuts_a_value():
    out, clock = io.StringIO(), Clock()
    view = ProgressView(4, SPACE, stream=out, live=True, clock=clock, width=72)
    view.start("a", 2, request(LONG))
    coop = {"method.w": 0.0, "method.d": 0.5, "method.mixture": False}  # d: not sampled
    view.start("b", 3, request(coop, point="coop"))
    view.epoch("a", 1, 1, 62.7, 15.4)
    screen = out.getvalue()
    assert "\x1b[" in screen  # the cursor goes back up over the previous table
    last = screen.rsplit("\x1b[J", 1)[-1].splitlines()
    header = last[0].split()
    assert header[:6] == ["trial", "epoch", "stage", "hm", "ece", "status"]
    assert all(len(line) <= 72 for line in last)
    # the settings that fit are shown whole; one that does not is left out, not cut
    assert "wordnet_near_ood" not in screen.rsplit("\x1b[J", 1)[-1] or "outlier_vocab" in header
    row = next(line for line in last if line.startswith("#2"))
    assert re.search(r"#2\s+1/3\s+prompt\s+62\.70\s+15\.40\s+RUNNING", row)
    assert last[-1].startswith("progress: 0/4 done")
    clock.now = 30.0
    view.end("a", "DONE", {"hm": 62.7, "ece": 15.4})
    after = out.getvalue().rsplit("\x1b[J", 1)[-1].splitlines()
    # the finished configuration leaves the table for a line that stays, with its settings
    assert "DONE" in after[0] and "outlier_vocab=wordnet_near_ood" in after[0]
    assert not any(line.startswith("#2") for line in after[1:])
    (coop_row,) = [line.split() for line in after if line.startswith("coop")]
    assert coop_row[-3:] == ["0", "-", "-"]  # w, then no d (inactive), no outlier_vocab
    assert after[-1].startswith("progress: 1/4 done, 30 s elapsed, about 1 min 30 s left")


def test_fill_bar_counts_images_episodes_and_time_left():
    from orchestrator.sweep.fill import FillBar

    bar = FillBar(4, io.StringIO(), live=False)
    line = bar.text(planned=1000, done=250, episodes_done=1, elapsed=30.0)
    assert line == (
        "feature cache [######..................] 250/1000 images, 1/4 episodes, 30 s, "
        "about 1 min 30 s left"
    )
    done = bar.text(planned=1000, done=1000, episodes_done=4, elapsed=125.0)
    assert "[########################] 1000/1000 images, 4/4 episodes, 2 min 5 s" in done
    assert "left" not in done and "left" not in bar.text(0, 0, 0, 1.0)


def test_fill_bar_redraws_one_line_live_and_prints_sparingly_elsewhere(monkeypatch):
    from orchestrator.sweep import fill

    clock = iter([0.0, 1.0, 2.0, 20.0, 21.0])
    monkeypatch.setattr(fill.time, "monotonic", lambda: next(clock))
    plain = io.StringIO()
    bar = fill.FillBar(2, plain, live=False, every_s=15.0)  # began at 0
    for planned, done, episodes in [(100, 10, 0), (100, 20, 0), (100, 90, 1), (100, 100, 2)]:
        bar.show(planned, done, episodes)
    bar.close()
    lines = plain.getvalue().splitlines()
    # the first poll, the one 15 s on, then the last state once: no redraw codes in a log
    assert [re.search(r"\d+/100 images", line).group() for line in lines] == [
        "10/100 images",
        "90/100 images",
        "100/100 images",
    ]
    assert "\x1b" not in plain.getvalue()

    clock = iter([0.0, 1.0, 2.0])
    live = io.StringIO()
    bar = fill.FillBar(1, live, live=True)
    bar.show(10, 5, 0)
    bar.show(10, 10, 1)
    bar.close()
    assert live.getvalue().count("\r\x1b[K") == 3 and live.getvalue().endswith(
        "1/1 episodes, 2 s\n"
    )
