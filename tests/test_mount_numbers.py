"""Inode numbers under a random mix of changes, through the mount and by another process."""

from __future__ import annotations

import random

from mount_helpers import NS, drop_kernel_caches, make_image, while_kernel_holds

from metafs import Images

STEPS = 120


def store_names(store) -> set[str]:
    with store.read() as tx:
        images = Images(tx, NS)
        return {*images.names(), *images.draft_names()}


def test_numbers_stay_coherent_through_random_changes(mount_factory):
    """Listings, lookups, label reads and writes, new, removed and renamed images, commits by
    another process and the kernel forgetting its entries, in a random order. After each step
    a listing shows exactly the store's images, and a lookup of a listed name (the kernel's
    entry has expired: the daemon is asked) gives the number the listing gave, the kernel
    holding the entry meanwhile (see `while_kernel_holds`)."""

    def some(store):
        for i in range(30):
            make_image(store, f"img-{i:02d}:1", {"k": "v"})

    mnt, store = mount_factory("--cache-timeout", "0.05", fill=some)
    rng = random.Random(20261202)
    made = 0

    def pick() -> str:
        return rng.choice(sorted(store_names(store)))

    def change() -> str:
        nonlocal made
        step = rng.randrange(9)
        if step == 0:
            made += 1
            return f"mkdir images/new-{made}:1"
        if step == 1:
            return f"rmdir images/{pick()}"
        if step == 2:
            made += 1
            return f"mv images/{pick()} images/moved-{made}:1"
        if step == 3:
            return f"echo w{made} > images/{pick()}/labels/k"
        if step == 4:
            return f"cat images/{pick()}/labels/* images/{pick()}/digest"
        if step == 5:
            drop_kernel_caches()
            return ":"
        with store.write() as tx:  # another process
            images = Images(tx, NS)
            if step == 6:
                made += 1
                target = images.get("img-00:1").target if images.exists("img-00:1") else None
                if target is not None:
                    images.put(f"other-{made}:1", target)
            elif step == 7:
                name = rng.choice(sorted(images.names()))
                images.update(images.get(name).replace(labels={"k": "x"}), "labels.k")
            else:
                images.delete(rng.choice(sorted(images.names())))
        return ":"

    for _ in range(STEPS):
        mnt.sh(change())  # refusals (a draft's labels, say) are fine: the check is below
        listed, looked_up, chosen = while_kernel_holds(lambda: listed_and_looked_up(mnt, rng))
        assert set(listed) == store_names(store)
        if not listed:
            break
        assert looked_up == {name: listed[name] for name in chosen}


def listed_and_looked_up(mnt, rng) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """The numbers `ls -i` gives to the names of images/, and those a lookup of some of them
    gives a moment later (the names chosen)."""
    out = mnt.sh("ls -f -i -1 images", check=True).stdout.splitlines()
    listed = dict(reversed(line.split(None, 1)) for line in out)
    listed.pop(".", None), listed.pop("..", None)
    chosen = rng.sample(sorted(listed), min(5, len(listed)))
    out = mnt.sh(
        "sleep 0.07; stat -c '%i %n' " + " ".join(f"images/{n}" for n in chosen), check=True
    ).stdout.splitlines()
    looked_up = {
        name.removeprefix("images/"): ino for ino, name in (line.split(" ", 1) for line in out)
    }
    return listed, looked_up, chosen
