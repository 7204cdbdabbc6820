"""The experience store: commits, log, diff, rollback, the Chroma index and its repair, one writer."""

import shutil

import numpy as np
import pytest

from agentevo.errors import MemoryStoreError
from agentevo.memory.store import Change, ExperienceStore
from agentevo.memory.sync import CLEAN_MARK, INDEX_DIR
from agentevo.records import UsageStats
from agentevo.testing import HashEmbedder
from tests.memory.builders import insight


def chroma_state(store):
    """Ids and vectors held by the Chroma index, straight from its collection."""
    got = store.index().collection.get(include=["embeddings"])
    return {i: np.asarray(v, dtype=np.float32) for i, v in zip(got["ids"], got["embeddings"], strict=True)}


def sql_vectors(store):
    from sqlmodel import select

    from agentevo.memory.tables import MemoryItemRow, unpack

    with store.session() as s:
        return {r.id: unpack(r.vector) for r in s.exec(select(MemoryItemRow))}


def assert_index_matches_sql(store):
    chroma, sql = chroma_state(store), sql_vectors(store)
    assert set(chroma) == set(sql)
    for item_id, vec in sql.items():
        np.testing.assert_allclose(chroma[item_id], vec, atol=1e-6)
    assert store.index().head == store.head_id()


def test_a_commit_is_durable_readable_and_searchable(store, tmp_path):
    a = insight("Sort the numbers first, then compare neighbours.", id="a")
    store.add([a])
    cid = store.commit("first")
    assert store.get("a").commit_id == cid and store.log()[0].message == "first"
    assert store.search("sort numbers compare", k=1)[0][0].id == "a"
    store.close()
    again = ExperienceStore(tmp_path / "memory_store")  # the embedder comes from the store's metadata
    assert again.embedder_name == "hash:64" and again.get("a").content == a.content
    again.close()


def test_rollback_restores_exactly_the_earlier_items_in_sql_and_chroma(store):
    a, b = insight("Check the empty list first.", id="a"), insight("Use a set for membership tests.", id="b")
    c1 = store.apply([Change("add", "a", a), Change("add", "b", b)], message="c1").id
    before = {e.id: e for e in store.items()}
    vectors_before = sql_vectors(store)
    c = insight("Read the docstring examples as tests.", id="c")
    a2 = store.get("a").model_copy(update={"content": "Check the empty list and None first."})
    store.apply([Change("update", "a", a2), Change("add", "c", c)], message="c2")
    used = store.get("c").model_copy(update={"stats": UsageStats(retrieved=3, helped=1, hurt=2)})
    store.apply([Change("delete", "b", None), Change("usage", "c", used)], message="c3")
    after_c3 = {e.id: e for e in store.items()}
    assert set(after_c3) == {"a", "c"} and after_c3["a"].version == 2

    info = store.rollback(c1)
    assert {e.id: e for e in store.items()} == before  # content, stats, trust, version, commit id: all
    assert set(sql_vectors(store)) == set(vectors_before)
    assert_index_matches_sql(store)
    assert next(r for r, _ in store.search_vector(vectors_before["b"], k=1)).id == "b"
    assert info.source == "rollback" and store.log()[0].id == info.id and info.parent == store.log()[1].id

    store.rollback("HEAD~1")  # forward again, to c3's state
    assert {e.id: e for e in store.items()} == after_c3
    assert_index_matches_sql(store)


def test_diff_names_what_was_added_removed_and_changed(store):
    store.add([insight("Alpha lesson.", id="a"), insight("Beta lesson.", id="b")])
    c1 = store.commit("one")
    store.update(store.get("a").model_copy(update={"content": "Alpha lesson, revised."}))
    store.delete("b")
    store.add([insight("Gamma lesson.", id="g")])
    c2 = store.commit("two")
    d = store.diff(c1, c2)
    assert [e.id for e in d.added] == ["g"] and [e.id for e in d.removed] == ["b"]
    assert [(e.id, "content" in f) for _, e, f in d.changed] == [("a", True)]
    assert store.diff(c2, c1).added[0].id == "b"


def test_deleting_the_chroma_folder_and_searching_rebuilds_it_with_the_same_results(tmp_path):
    root = tmp_path / "memory_store"
    texts = [
        f"lesson {i}: {w} the list before {v}"
        for i, (w, v) in enumerate(
            [("sort", "merging"), ("reverse", "printing"), ("filter", "summing"), ("dedupe", "counting")] * 10
        )
    ]
    # numpy_max_rows=0 sends every query through Chroma, so the rebuilt index is what answers
    s = ExperienceStore(root, embedder=HashEmbedder(64), numpy_max_rows=0)
    s.add([insight(t, id=f"i{n}") for n, t in enumerate(texts)])
    s.commit("forty lessons")
    queries = ["sort before merging", "count duplicates", "reverse and print"]
    before = [[(e.id, round(x, 5)) for e, x in s.search(q, k=5)] for q in queries]
    s.close()
    shutil.rmtree(root / INDEX_DIR)
    s = ExperienceStore(root, numpy_max_rows=0)
    after = [[(e.id, round(x, 5)) for e, x in s.search(q, k=5)] for q in queries]
    assert (root / INDEX_DIR).is_dir() and after == before
    assert_index_matches_sql(s)
    s.close()


def test_a_damaged_index_segment_is_probed_in_a_child_and_rebuilt(tmp_path):
    root = tmp_path / "memory_store"
    s = ExperienceStore(root, embedder=HashEmbedder(64))
    s.add([insight(f"lesson number {i} about topic {i % 7}", id=f"i{i}") for i in range(1050)])
    s.commit("enough items for Chroma to write its HNSW segment")
    s.close()
    segments = list((root / INDEX_DIR).rglob("*.bin"))
    assert segments, "expected an HNSW segment on disk"
    for p in segments:  # what an interrupted flush leaves behind (chroma #7238)
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 3])
    s = ExperienceStore(root)
    (hit, score), *_ = s.search("lesson number 5 about topic 5", k=1)
    assert hit.content == "lesson number 5 about topic 5" and score == pytest.approx(1.0)
    assert_index_matches_sql(s)
    s.close()


def test_the_index_catches_up_with_commits_it_missed(tmp_path):
    root = tmp_path / "memory_store"
    s = ExperienceStore(root, embedder=HashEmbedder(64))
    s.add([insight("first", id="a")])
    s.commit()
    s.close()
    s = ExperienceStore(root, use_index=False)  # commits without touching Chroma
    s.add([insight("second", id="b")])
    s.delete("a")
    s.commit()
    s.close()
    s = ExperienceStore(root)
    assert set(chroma_state(s)) == {"b"}
    assert_index_matches_sql(s)
    s.close()
    assert not (root / CLEAN_MARK).exists() or (root / CLEAN_MARK).read_text()


def test_one_writer_at_a_time_while_readers_follow_its_commits(store, tmp_path):
    with pytest.raises(MemoryStoreError, match="being written by another process"):
        ExperienceStore(tmp_path / "memory_store", lock_timeout_s=0.2)
    store.add([insight("Use a set for membership tests.", id="a")])
    store.commit()
    reader = ExperienceStore(tmp_path / "memory_store", writer=False)
    assert [e.id for e, _ in reader.search("membership set", k=3)] == ["a"]
    store.add([insight("Membership in a set is fast.", id="b")])
    store.commit()
    assert {e.id for e, _ in reader.search("membership set", k=3)} == {"a", "b"}
    with pytest.raises(MemoryStoreError, match="read-only"):
        reader.apply([Change("delete", "a", None)])
    reader.close()


def test_auto_mode_reads_when_a_writer_holds_the_lock(store, tmp_path):
    other = ExperienceStore.for_workspace(tmp_path, mode="auto")
    assert not other.writer
    other.close()


def test_search_filters_by_scope_and_kind_and_never_returns_quarantined(store):
    store.add(
        [
            insight("sort the list in humaneval", id="h"),
            insight("sort the list anywhere", id="g", suite=""),
            insight("sort the list on the os suite", id="o", suite="os"),
            insight("sort the list pitfall", id="p", kind="pitfall"),
            insight("sort the list quietly", id="q", trust="quarantined"),
        ]
    )
    store.commit()
    ids = {e.id for e, _ in store.search("sort the list", scope={"suite": "humaneval"}, k=10)}
    assert ids == {"h", "g", "p"}
    ids = {e.id for e, _ in store.search("sort the list", k=10, filter={"kind": "pitfall"})}
    assert ids == {"p"}
    ids = {e.id for e, _ in store.search("sort the list", k=10, include_quarantined=True)}
    assert "q" in ids


def test_chroma_and_numpy_paths_agree(tmp_path):
    items = [
        insight(f"topic {i % 13} detail {i}", id=f"i{i}", suite="s" if i % 4 else "t") for i in range(300)
    ]
    results = []
    for numpy_max in (0, 10_000):
        s = ExperienceStore(tmp_path / f"m{numpy_max}", embedder=HashEmbedder(64), numpy_max_rows=numpy_max)
        s.add(items)
        s.commit()
        results.append([[x for _, x in s.search(f"topic {t} detail", k=5)] for t in range(13)])
        s.close()
    # the same nearest scores (ids may swap among exact ties, as float32 distances round differently)
    np.testing.assert_allclose(np.array(results[0]), np.array(results[1]), atol=1e-5)


def test_bad_references_raise_one_clear_error(store):
    store.add([insight("x", id="abcdef")])
    store.commit()
    with pytest.raises(MemoryStoreError, match="no commit 'nope'"):
        store.rollback("nope")
    with pytest.raises(MemoryStoreError, match="no memory item 'zzzz'"):
        store.resolve_item("zzzz")
    assert store.resolve_item("abcd").id == "abcdef"
    with pytest.raises(MemoryStoreError, match="no commit"):
        store.diff("HEAD", "HEAD~5")


def test_export_then_import_round_trips_and_a_bad_file_writes_nothing(store, tmp_path):
    store.add([insight("one lesson", id="a"), insight("another lesson", id="b")])
    store.commit()
    out = tmp_path / "mem.jsonl"
    assert store.export(out) == 2
    target = ExperienceStore(tmp_path / "other", embedder=HashEmbedder(64))
    target.import_file(out)
    assert {e.id: e.content for e in target.items()} == {"a": "one lesson", "b": "another lesson"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(out.read_text().splitlines()[0] + '\n{"id": 3}\n')
    with pytest.raises(MemoryStoreError, match=r"bad.jsonl:2: not an experience item"):
        target.import_file(bad)
    assert len(target.log()) == 1
    target.close()


def test_a_store_refuses_an_embedder_other_than_the_one_that_built_it(store, tmp_path):
    store.add([insight("x", id="a")])
    store.commit()
    store.close()
    with pytest.raises(MemoryStoreError, match="holds hash:64 embeddings"):
        ExperienceStore(tmp_path / "memory_store", embedder=HashEmbedder(32))


def test_reindex_with_another_embedder_re_embeds_items_and_history(store, tmp_path):
    store.add([insight("alpha", id="a")])
    c1 = store.commit()
    store.add([insight("beta", id="b")])
    store.commit()
    result = store.reindex(embedder="hash:32")
    assert result["reembedded"] == 2 and store.stats()["dim"] == 32
    store.rollback(c1)
    assert [e.id for e, _ in store.search("alpha", k=2)] == ["a"]
    assert_index_matches_sql(store)
