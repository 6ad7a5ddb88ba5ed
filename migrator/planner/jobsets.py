"""Groups an ordered list of moves into jobsets: each jobset's moves touch disjoint hosts,
so they can run at once; jobsets run one after the other.

A move may rely on an earlier move that touched one of its hosts (it freed the memory the
move needs on its target), so a move goes into the first jobset after the last one that
touches its source or its target. Moves on other hosts cannot change whether it fits. Within
that rule a move goes as early as it can, and max_parallel caps a jobset's size.
"""


def assign(moves, max_parallel=None):
    """moves: (source, target) pairs in plan order. Returns each move's jobset, from 0."""
    last = {}          # host -> the last jobset that touches it
    sizes = []         # moves per jobset
    result = []
    for source, target in moves:
        jobset = max(last.get(source, -1), last.get(target, -1)) + 1
        while max_parallel and jobset < len(sizes) and sizes[jobset] >= max_parallel:
            jobset += 1
        while len(sizes) <= jobset:
            sizes.append(0)
        sizes[jobset] += 1
        last[source] = last[target] = jobset
        result.append(jobset)
    return result
