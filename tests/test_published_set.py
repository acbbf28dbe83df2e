"""Every model a chapter needs, loaded from the published set alone (as a fresh clone has it),
carries the tensors its page reads: W1, b, the loss log and the trace always; W2 for Section 5's
models (any batch holding the model may be one); the checkpoints for Fig. 2's model."""
import pytest

from monosem_lib import batches, chapters, mechanism, store



def published_presets() -> list[str]:
    text = (store.published_dir() / "INDEX.md").read_text()
    return [p for p in batches.PRESETS if f"| {p} |" in text]


def chapter_batches() -> list[str]:
    return sorted({part for c in chapters.CHAPTERS for name in c.batches for part in name.split(",")})


def test_keeps_W2_for_a_model_any_of_whose_batches_is_section_5s():
    shared = next(c for c in batches.configs("E3", "quick") if c.eps == mechanism.MODELS["E3"])
    assert batches.locate(shared)[0] == "B5"            # the first holder is not Section 5's batch
    assert store.keeps_W2(shared)
    assert not store.keeps_W2(batches.configs("B5", "quick")[0])


@pytest.mark.parametrize("preset", published_presets())
def test_every_chapter_model_has_the_tensors_its_page_reads(preset, tmp_path, monkeypatch):
    monkeypatch.setenv(store.ENV_VAR, str(tmp_path))   # an empty local store: the published set only
    piecewise = batches.get_preset(preset).piecewise
    lacking, missing_W2 = [], set()
    for name in chapter_batches():
        found, missing = store.available(name, preset, 0)
        if not piecewise:
            assert not missing, f"{len(missing)} models of {name} at preset {preset} are not published"
        for m in found:  # W1, b, the loss log and the trace: loading fails on a file without one
            if store.keeps_W2(m.config) and m.W2 is None:
                missing_W2.add(store.file_name(m.config))
            if store.keeps_checkpoints(m.config) and not m.checkpoints:
                lacking.append(f"{name} {m.config}: checkpoints")
    assert not lacking
    assert not missing_W2, "published without the W2 their page reads"
