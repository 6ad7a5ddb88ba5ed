"""The rebalance planner: a cluster model, its score, and a greedy search for moves.

Pure logic, no DB or RPC: the conductor feeds it the cluster read from the DB, and
`migrator-manage rebalance plan` feeds it a snapshot file, so both plan the same way.

    model     hosts (capacity) and instances (size, host) of one cluster
    score     the cluster score, from scratch and incrementally per candidate move
    search    the greedy planner, move after move the one that lowers the score most
    jobsets   moves grouped into sets that touch disjoint hosts (run in parallel)
    duration  a move's predicted duration from memory, disks and dirty rate
    snapshot  the JSON snapshot format: parsing with errors that say what to fix
"""
