from dataclasses import dataclass

from pithosfs.cache.stat_cache import MISSING, StatCache


@dataclass(frozen=True)
class V:
    version: int
    tag: str = ""


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make(**kw):
    clock = Clock()
    return StatCache(attr_ttl=5, dir_ttl=5, clock=clock, **kw), clock


def test_put_get_and_ttl():
    cache, clock = make()
    cache.put("/c/a", V(1))
    assert cache.get("/c/a") == V(1)
    clock.t += 6
    assert cache.get("/c/a") is None


def test_negative_entries():
    cache, clock = make()
    cache.put_missing("/c/nope")
    assert cache.get("/c/nope") is MISSING
    clock.t += 6
    assert cache.get("/c/nope") is None


def test_listing_fills_children_and_answers_absent_names():
    cache, clock = make()
    started = cache.now()
    cache.fill_dir("/c/d", {"a": V(1), "b": V(2)}, started)
    assert cache.listing("/c/d") == ["a", "b"]
    assert cache.get("/c/d/a") == V(1)
    assert cache.get("/c/d/zzz") is MISSING  # absent from a fresh listing
    clock.t += 6
    assert cache.listing("/c/d") is None
    assert cache.get("/c/d/zzz") is None


def test_never_goes_back_to_an_older_version():
    cache, clock = make()
    started = cache.now()
    clock.t += 1
    cache.put("/c/d/a", V(10, "own write"))
    cache.fill_dir("/c/d", {"a": V(9, "stale listing")}, started)
    assert cache.get("/c/d/a") == V(10, "own write")


def test_listing_keeps_own_creations_and_deletions_made_after_it_started():
    cache, clock = make()
    cache.put("/c/d/gone", V(1))
    started = cache.now()
    clock.t += 1
    cache.put("/c/d/new", V(5))
    cache.put_missing("/c/d/gone")
    cache.fill_dir("/c/d", {"old": V(2), "gone": V(1)}, started)
    assert cache.listing("/c/d") == ["new", "old"]
    assert cache.get("/c/d/gone") is MISSING


def test_own_writes_update_a_cached_listing():
    cache, _ = make()
    cache.fill_dir("/c", {"a": V(1)}, cache.now())
    cache.put("/c/b", V(2))
    cache.put_missing("/c/a")
    assert cache.listing("/c") == ["b"]


def test_bounded_lru():
    cache, _ = make(max_entries=3, max_dirs=1)
    for i in range(5):
        cache.put(f"/c/{i}", V(i))
    assert len(cache) == 3
    assert cache.get("/c/0") is None and cache.get("/c/4") == V(4)
    cache.fill_dir("/a", {}, cache.now())
    cache.fill_dir("/b", {}, cache.now())
    assert cache.listing("/a") is None and cache.listing("/b") == []


def test_forget_tree():
    cache, _ = make()
    cache.fill_dir("/c/d", {"a": V(1)}, cache.now())
    cache.put("/c/dx", V(3))
    cache.forget_tree("/c/d")
    assert cache.get("/c/d/a") is None and cache.listing("/c/d") is None
    assert cache.get("/c/dx") == V(3)


def test_root_is_never_missing_from_its_own_listing():
    cache, _ = make()
    cache.fill_dir("/", {"c": V(1)}, cache.now())
    assert cache.get("/") is None
    cache.put("/", V(0))
    assert cache.get("/") == V(0)
    assert cache.listing("/") == ["c"]


def test_own_write_memory_is_pruned_by_listings():
    cache, clock = make()
    for i in range(100):
        cache.put(f"/c/d/f{i}", V(i))
    clock.t += 1
    cache.fill_dir("/c/d", {f"f{i}": V(i) for i in range(100)}, cache.now())
    assert cache._recent == {}  # the listing covers them all


def test_expired_entries_and_listings_leave_as_new_ones_arrive():
    """A mount creating ever new names keeps only the last few seconds' worth, not
    max_entries of dead paths (what grew a soaked mount by 100 MiB)."""
    cache, clock = make()
    for i in range(1000):
        cache.put(f"/c/old{i}", V(1))
        cache.put_missing(f"/c/gone{i}")
    cache.fill_dir("/c", {"old0": V(1)}, clock.t)
    clock.t += 11  # expired for longer than one more TTL
    cache.put("/c/new", V(1))
    cache.fill_dir("/d", {}, clock.t)
    assert len(cache) == 1 and cache.get("/c/new") == V(1)
    assert cache.listing("/c") is None and cache.listing("/d") == []
    assert len(cache._dirs) == 1


def test_a_trimmed_listing_still_tells_its_size():
    """A directory made here long ago (rsync makes every directory first, then fills
    them) is still known to be small after its listing is trimmed away: it is listed
    again, not asked name by name (a HEAD and a listing per new name)."""
    cache, clock = make(max_dirs=2)
    cache.fill_dir("/c/small", {"a": V(1), "b": V(1)}, clock.t)
    cache.fill_dir("/c/empty", {}, clock.t)
    clock.t += 11
    cache.fill_dir("/d", {}, clock.t)  # trims both expired listings
    assert cache.listing("/c/small") is None and "/c/small" not in cache._dirs
    assert cache.last_listing_size("/c/small") == 2
    assert cache.last_listing_size("/c/empty") == 0
    assert cache.last_listing_size("/never") is None
    cache.forget_tree("/c")
    assert cache.last_listing_size("/c/small") is None
    for i in range(100):  # bounded
        cache.fill_dir(f"/many/{i}", {}, clock.t)
    assert len(cache._sizes) <= 10 * cache.max_dirs


def test_own_write_notes_live_only_as_long_as_a_listing_that_may_need_them():
    from pithosfs.cache import stat_cache

    cache, clock = make()
    started = cache.begin_listing()
    clock.t += 1
    cache.put("/c/mine", V(1))  # written while the listing is in flight
    for i in range(stat_cache.SWEEP_NOTES):
        cache.put(f"/other/n{i}", V(1))
    assert "mine" in cache._recent["/c"]  # kept: the listing started before it
    cache.fill_dir("/c", {}, started)  # that listing did not see it...
    cache.end_listing(started)
    assert cache.listing("/c") == ["mine"]  # ...and did not undo it
    for i in range(stat_cache.SWEEP_NOTES):
        cache.put(f"/other/m{i}", V(1))
    assert "/c" not in cache._recent and len(cache._recent.get("/other", {})) < 10
