"""The pages' "At paper scale" estimates come from the plan (runs.plan at preset paper on CUDA), and
their run lengths from each batch's own steps."""
import pytest

from monosem_lib import batches, paper_scale, runs


def plan_seconds(*names) -> float:
    return sum(u.seconds("cuda") for u in runs.plan(runs.Request(names, "paper", (0,), "cuda")))


@pytest.mark.parametrize("names", [("E1",), ("LR5",), ("LR5", "D1"), ("E1", "E3")])
def test_the_estimate_of_whole_batches_is_the_plans(names):
    missing = {name: batches.configs(name, "paper") for name in names}
    assert paper_scale.gpu_seconds(missing) == pytest.approx(plan_seconds(*names))


def test_the_estimate_times_only_the_missing_models_of_each_unit():
    e1 = batches.configs("E1", "paper")
    part = {"E1": e1[:3]}
    unit = runs.Unit(tuple(runs.Model("E1", c) for c in e1[:3]))
    assert paper_scale.gpu_seconds(part) == pytest.approx(unit.seconds("cuda"))
    assert 0 < paper_scale.gpu_seconds(part) < paper_scale.gpu_seconds({"E1": e1})
    assert paper_scale.gpu_seconds({"E1": [], "LR5": []}) == 0


def test_a_long_batch_is_estimated_longer_than_a_short_one():
    """E1 runs 2^20 steps at the paper preset, LR3 2^17: per model, E1 costs more."""
    e1, lr3 = batches.configs("E1", "paper"), batches.configs("LR3", "paper")
    assert e1[0].steps == 8 * lr3[0].steps
    assert (paper_scale.gpu_seconds({"E1": e1}) / len(e1)) > (paper_scale.gpu_seconds({"LR3": lr3}) / len(lr3))


def test_steps_text_is_each_batchs_own():
    paper = batches.get_preset("paper")
    assert paper_scale.steps_text(["E1", "E3"]) == f"{batches.pow2(paper.long_steps)} steps"
    assert paper_scale.steps_text(["LR5"]) == f"{batches.pow2(paper.lr_sweep_steps)} steps"
    assert paper_scale.steps_text(["LR5", "D1"]) == \
        f"{batches.pow2(paper.lr_sweep_steps)} steps (LR5), {batches.pow2(paper.long_steps)} steps (D1)"


def test_gpu_time_reads_in_minutes_then_hours():
    assert paper_scale.gpu_time(61) == "2 GPU-minutes"
    assert paper_scale.gpu_time(3 * 3600) == "3.0 GPU-hours"
