"""What scripts, pages and the runner call: the `Scheduler` (`scheduler`), one delivery attempt (`publisher`),
`accounts`, `connect`/`connect_password`, `members`, `views`, `notifications`, `auth`, `recurring`, and `runtime`
(opening the configured storage). Each operation on a workspace's data is told who acts.

And what the runner schedules, which a page, a script or a test can call on its own.

Each job is a plain function over the store, a clock and the adapters it needs (never a Runner):

- ``tokens``: refresh access tokens before they expire; mark the accounts a platform refuses.
- ``insights``: pull post and follower metrics of recently published posts.
- ``reminders``: remind approvers of posts due soon that nobody approved.
- ``series``: continue a recurring post's series once an occurrence settles.
- ``housekeeping``: old connect attempts, heartbeats of runners long gone, series left behind.
- ``generation``: the hook that generates the next batches of content.

Every job isolates one account's, workspace's or post's failure from the others: it logs it and goes on.
"""
