"""The API's service layer: what a request does, between the REST controllers and the
conductor (the role of Nova's compute/api.py).

Controllers parse the request, authorise it (policy stays at the edge), call one method
here and render the answer. A service method normalises the input once, checks it against
the DB, writes what the request creates, and hands the work to a conductor over RPC; it
knows nothing of pecan, HTTP or views, so the CLI or a test can call it as it is.

    handoff     create + cast + "mark it failed when the cast fails", for every kind of job
    migrations  create (and its dry run), abort
    drains      drain, undrain (with the return of the guests), cancel
    plans       create, apply
"""
