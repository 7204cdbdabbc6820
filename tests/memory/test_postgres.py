"""The ledger on a real PostgreSQL server (tests/conftest.py starts one when its binaries are installed)."""

from agentevo.memory.curator import Curator
from agentevo.memory.store import ExperienceStore
from agentevo.testing import HashEmbedder
from tests.memory.builders import insight


def test_commits_merge_search_rollback_and_diff_work_on_postgres(postgres_url, tmp_path):
    store = ExperienceStore(tmp_path / "memory_store", url=postgres_url, embedder=HashEmbedder(64))
    curator = Curator(store)
    c1 = store.apply(curator.plan([insight("Sort the numbers first.", id="a", trajectory="r:1#0")]))
    store.apply(curator.plan([insight("Sort the numbers first!", id="b", trajectory="r:2#0")]))
    store.apply(curator.plan([insight("Use a dict to count the words.", id="c")]))
    assert [e.id for e in store.items()] == ["a", "c"]
    assert store.get("a").provenance.trajectory_ids == ("r:1#0", "r:2#0")
    assert store.search("count words with a dict", k=1)[0][0].id == "c"
    store.rollback(c1.id)
    assert [e.id for e in store.items()] == ["a"] and store.get("a").provenance.trajectory_ids == ("r:1#0",)
    assert {e.id for e in store.diff(c1.id, "HEAD~1").added} == {"c"}
    assert store.index().ids() == {"a"}
    store.close()
    again = ExperienceStore(tmp_path / "memory_store", url=postgres_url)
    assert again.embedder_name == "hash:64" and [e.id for e in again.items()] == ["a"]
    again.close()
