"""`agent.roots.Root`: the one parser of root text, and its canonical spelling."""
import pytest
from hypothesis import given, settings, strategies as st

from agent.player import evaluation_search
from agent.roots import ROOTS, Root
from envs.errors import UsageError

VALID = [Root(selection, model, solver, reuse) for selection in ("puct", "gumbel") for model in ("learned", "rules")
         for solver in (False, True) for reuse in (False, True)
         if not (solver and model != "rules") and not (reuse and selection != "puct")]


def test_the_choices_of_root_are_every_root_without_reuse_in_the_old_order():
    assert ROOTS == ("puct", "gumbel", "puct+rules", "gumbel+rules", "puct+rules+solver", "gumbel+rules+solver")


@pytest.mark.parametrize("root", VALID, ids=str)
def test_every_root_reads_back_from_its_text_and_searches_as_it_says(root):
    assert Root.parse(str(root)) == root and Root.parse(f"  {root} ") == root
    search = evaluation_search(16, root, 0.9)
    assert (search.root, search.model, search.solver, search.discount) == (root.selection, root.model, root.solver, 0.9)
    assert root.over_rules.model == "rules" and not root.without_reuse.reuse


@pytest.mark.parametrize("text, words", [
    ("alphazero", "not a root"), ("puct+solver", r"needs \+rules"), ("gumbel+reuse", "pUCT trees only"),
    ("puct+reuse+rules", "not a root"), ("puct+rules+rules", "not a root"), ("", "not a root"), ("puct+", "not a root"),
])
def test_bad_roots_are_one_line_naming_where(text, words):
    with pytest.raises(UsageError, match=words) as error:
        Root.parse(text, "--root")
    assert str(error.value).startswith("--root: ") and "\n" not in str(error.value)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["puct", "gumbel", "rules", "solver", "reuse", "x", ""]), min_size=1, max_size=5)
       .map("+".join) | st.text(max_size=20))
def test_any_text_is_a_canonical_root_or_one_line(text):
    try:
        root = Root.parse(text)
    except UsageError as error:
        assert "\n" not in str(error)
        return
    assert str(root) == text.strip() and root in VALID
