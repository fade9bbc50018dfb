using System.Collections.Concurrent;
using System.Diagnostics;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Lineup.Storage.Postgres;
using Xunit.Abstractions;

namespace Lineup.Storage.Tests;

/// <summary>
/// "No acknowledged catalog write is lost" (issue 8): writers of every kind the product makes run against a PostgreSQL
/// server of the test's own (<see cref="PostgresProcessServer"/>), the server is killed with SIGKILL in the middle of
/// them, started again on the same data directory, and every write whose call had returned is there, whole.
/// </summary>
/// <remarks>
/// <para>
/// What makes a returned commit survive a crash of the server is that its WAL record was written and flushed before the
/// commit was acknowledged: <c>synchronous_commit=on</c>. With it off, a commit is acknowledged from the WAL buffers in
/// shared memory and the WAL writer writes them out later (a full page at a time, the rest every <c>wal_writer_delay</c>);
/// a SIGKILL of every server process drops those buffers, and the last acknowledged commits are gone after recovery. The
/// catalog sets <c>synchronous_commit=on</c> on its own connections, whatever the server's default, so this server is
/// deliberately started with the default OFF and the WAL writer at its longest delay: the writes here survive only
/// because of the catalog's own setting. Measured with that setting removed from <c>PostgresCatalog.OpenAsync</c>: 5 of 6
/// runs of this test failed, losing 2 to 11 acknowledged writes each (ingest items, gallery images, audit events, cases).
/// </para>
/// <para>
/// The kill takes the postmaster and all its children at once, so nothing of the server gets to flush or clean up;
/// the kernel's page cache survives (this is a crash of the server, not of the machine, which <c>fsync=on</c> covers).
/// </para>
/// </remarks>
public sealed class PostgresDurabilityTests(ITestOutputHelper output) : IAsyncLifetime
{
    /// <summary>Acknowledged writes of each writer before the kill: enough that many commits are recent when it comes.</summary>
    private const int AcksBeforeKill = 25;

    private PostgresProcessServer? _server;
    private PostgresCatalog? _catalog;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_catalog is not null)
        {
            await _catalog.DisposeAsync();
        }

        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    [SkippableFact]
    public async Task Acknowledged_catalog_writes_survive_a_kill_9_of_the_server()
    {
        var clock = Stopwatch.StartNew();
        _server = await PostgresProcessServer.StartAsync(new Dictionary<string, string>
        {
            ["fsync"] = "on",
            ["full_page_writes"] = "on",

            // The server's default; the catalog's connections override it (see the remarks).
            ["synchronous_commit"] = "off",
            ["wal_writer_delay"] = "10000",
        });
        output.WriteLine($"private PostgreSQL on port {_server.Port} up in {clock.Elapsed.TotalSeconds:0.0} s");
        var connectionString = _server.ConnectionString + ";Maximum Pool Size=20";
        _catalog = await PostgresCatalog.OpenAsync(connectionString, TestData.Model, TimeProvider.System);
        var catalog = _catalog;
        var collection = await catalog.EnsureCollectionAsync("press", "public interest", "GB");

        var acked = new Acknowledged();
        var killed = 0;
        var unexpected = new ConcurrentQueue<Exception>();
        using var stop = new CancellationTokenSource();

        // Each writer runs until its first failure. Before the kill a failure is a bug; from the kill on it is a write in
        // flight, which may or may not have committed, and stops that writer.
        async Task WriterAsync(Func<int, Task> write)
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                try
                {
                    await write(i);
                }
                catch (Exception ex) when (Volatile.Read(ref killed) == 1)
                {
                    output.WriteLine($"in flight at the kill: {ex.GetType().Name}: {ex.Message.Split('\n')[0]}");
                    return;
                }
                catch (Exception ex)
                {
                    unexpected.Enqueue(ex);
                    return;
                }
            }
        }

        var runs = new List<long>();
        for (var r = 0; r < 2; r++)
        {
            runs.Add((await catalog.StartRunAsync(collection.Id, "folder", $"/photos/durable-{r}")).Id);
        }

        var writers = new List<Task>();
        foreach (var run in runs)
        {
            // Ingest: batches of one to three items, each with one to three faces, as the pipeline commits them.
            var random = new Random((int)run);
            var next = 0L;
            writers.Add(Task.Run(() => WriterAsync(async i =>
            {
                var entries = Enumerable.Range(0, 1 + random.Next(3)).Select(k => new IngestEntry(
                    next + k, $"run{run}/{next + k}.jpg", IngestStatus.Ingested, Image: TestData.Image(collection.Id, random, faces: 1 + random.Next(3)))).ToList();
                acked.IngestAttempts.Enqueue((run, entries));
                var results = await catalog.CommitAsync(run, entries);
                acked.Ingest.Enqueue((run, entries, results));
                next += entries.Count;
            })));
        }

        var galleryRandom = new Random(7);
        writers.Add(Task.Run(() => WriterAsync(async i =>
        {
            // Gallery writes outside a run (AddImagesAsync), two or three images per transaction.
            var images = Enumerable.Range(0, 2 + (i % 2)).Select(_ => TestData.Image(collection.Id, galleryRandom, faces: 1 + galleryRandom.Next(3))).ToList();
            acked.GalleryAttempts.Enqueue(images);
            var stored = await catalog.AddImagesAsync(images);
            acked.Gallery.Enqueue((images, stored));
        })));

        writers.Add(Task.Run(() => WriterAsync(async i =>
        {
            // Audit appends: single events and batches of three (all or none).
            if (i % 2 == 0)
            {
                var one = new NewAuditEvent("durable", AuditActions.View, $"durable:{i}", AuditDetails.Empty.With("n", i));
                acked.AuditAttempts.Enqueue([one]);
                acked.Audit.Enqueue([await catalog.AppendAsync(one)]);
            }
            else
            {
                var batch = Enumerable.Range(0, 3).Select(k => new NewAuditEvent("durable", AuditActions.Export, $"durable:{i}-{k}")).ToList();
                acked.AuditAttempts.Enqueue(batch);
                acked.Audit.Enqueue(await catalog.AppendAsync(batch));
            }
        })));

        writers.Add(Task.Run(() => WriterAsync(async i =>
        {
            // Cases, each opened with its audit event in the same transaction.
            var number = $"D-{i}";
            acked.CaseAttempts.Enqueue(number);
            acked.Cases.Enqueue(await catalog.OpenCaseAsync(
                new NewCase(number, "robbery", "durability test", $"W-{i}", DateTimeOffset.UtcNow.AddYears(1)), "supervisor"));
        })));

        // The kill comes once every writer has had enough acknowledged (counted, not timed).
        try
        {
            while (acked.Ingest.Count < AcksBeforeKill * runs.Count || acked.Gallery.Count < AcksBeforeKill
                || acked.Audit.Count < AcksBeforeKill || acked.Cases.Count < AcksBeforeKill)
            {
                Assert.Empty(unexpected);
                Assert.True(writers.All(w => !w.IsCompleted), "a writer stopped before the kill");
                await Task.Delay(20);
            }
        }
        catch
        {
            // The writers must not outlive a failed test.
            await stop.CancelAsync();
            throw;
        }

        Volatile.Write(ref killed, 1);
        await _server.KillAsync();
        await stop.CancelAsync();
        await Task.WhenAll(writers);
        Assert.Empty(unexpected);
        output.WriteLine(
            $"killed after {acked.Ingest.Count} ingest commits, {acked.Gallery.Count} gallery batches, {acked.Audit.Count} audit appends, " +
            $"{acked.Cases.Count} cases acknowledged ({clock.Elapsed.TotalSeconds:0.0} s)");

        // Writes made but not acknowledged stay out of the checks below except for all-or-none.
        await catalog.DisposeAsync();
        _catalog = null;
        await _server.RestartAsync();
        output.WriteLine($"restarted ({clock.Elapsed.TotalSeconds:0.0} s); the server's log says:\n" + string.Join('\n',
            _server.LogTail(60).Split('\n').Where(l => l.Contains("not properly shut down", StringComparison.Ordinal) || l.Contains("redo", StringComparison.Ordinal))));
        _catalog = await PostgresCatalog.OpenAsync(connectionString, TestData.Model, TimeProvider.System);
        catalog = _catalog;

        var lost = new List<string>();
        await CheckIngestAsync(catalog, acked, lost);
        await CheckGalleryAsync(catalog, acked, lost);
        await CheckAuditAsync(catalog, acked, lost);
        await CheckCasesAsync(catalog, acked, lost);
        Assert.True(lost.Count == 0, $"{lost.Count} acknowledged writes lost or changed:\n{string.Join('\n', lost.Take(20))}");

        // The recovered catalog takes writes again, and its audit chain still verifies with them.
        await catalog.AppendAsync(new NewAuditEvent("durable", AuditActions.Admin, "recovery:1"));
        var verification = await catalog.VerifyAsync(null);
        Assert.True(verification.IsIntact, string.Join('\n', verification.Problems.Select(p => p.Message)));
        output.WriteLine($"all acknowledged writes present; {verification.Events} audit events verify; {clock.Elapsed.TotalSeconds:0.0} s in all");
    }

    /// <summary>Every acknowledged ingest commit: its items recorded with their outcomes, its images with exactly their faces.</summary>
    private static async Task CheckIngestAsync(PostgresCatalog catalog, Acknowledged acked, List<string> lost)
    {
        foreach (var run in acked.Ingest.Select(a => a.Run).Distinct())
        {
            var items = (await catalog.GetRunItemsAsync(run)).ToDictionary(i => i.Sequence);

            // The recorded items stay a prefix of the source: no commit was half applied, none is missing in the middle.
            Assert.Equal(Enumerable.Range(0, items.Count).Select(i => (long)i), items.Keys.Order());
            foreach (var (_, entries, results) in acked.Ingest.Where(a => a.Run == run))
            {
                for (var e = 0; e < entries.Count; e++)
                {
                    var (entry, result) = (entries[e], results[e]);
                    if (!items.TryGetValue(entry.Sequence, out var item))
                    {
                        lost.Add($"run {run} item {entry.Sequence} ({entry.Name})");
                        continue;
                    }

                    if (item.Name != entry.Name || item.Status != result.Status || item.ImageId != result.ImageId || item.Faces != result.FaceIds.Count)
                    {
                        lost.Add($"run {run} item {entry.Sequence} recorded as {item.Name} {item.Status} image {item.ImageId}, acknowledged as {entry.Name} {result.Status} image {result.ImageId}");
                    }

                    await CheckImageAsync(catalog, entry.Image!, result.ImageId!.Value, result.FaceIds, $"run {run} item {entry.Sequence}", lost);
                }
            }

            // Commits in flight at the kill: each one all or nothing.
            foreach (var (_, entries) in acked.IngestAttempts.Where(a => a.Run == run))
            {
                var present = entries.Count(e => items.TryGetValue(e.Sequence, out var item) && item.Name == e.Name);
                Assert.True(present == 0 || present == entries.Count, $"run {run}: {present} of {entries.Count} items of one commit recorded");
                foreach (var entry in entries.Where(e => items.TryGetValue(e.Sequence, out var item) && item.Name == e.Name))
                {
                    var image = await catalog.FindImageAsync(entry.Image!.Sha256);
                    Assert.NotNull(image);
                    Assert.Equal(entry.Image.Faces.Count, (await catalog.GetFacesOfImageAsync(image.Id)).Count);
                }
            }
        }
    }

    private static async Task CheckGalleryAsync(PostgresCatalog catalog, Acknowledged acked, List<string> lost)
    {
        foreach (var (images, stored) in acked.Gallery)
        {
            for (var i = 0; i < images.Count; i++)
            {
                await CheckImageAsync(catalog, images[i], stored[i].ImageId, stored[i].FaceIds, $"gallery image {stored[i].ImageId}", lost);
            }
        }

        foreach (var images in acked.GalleryAttempts)
        {
            var found = new List<ImageRecord>();
            foreach (var image in images)
            {
                if (await catalog.FindImageAsync(image.Sha256) is { } record)
                {
                    found.Add(record);
                    Assert.Equal(image.Faces.Count, (await catalog.GetFacesOfImageAsync(record.Id)).Count);
                }
            }

            Assert.True(found.Count == 0 || found.Count == images.Count, $"{found.Count} of {images.Count} images of one AddImagesAsync stored");
        }
    }

    /// <summary>The image under its acknowledged id, with exactly its faces: ids, boxes and embeddings (stored as half floats).</summary>
    private static async Task CheckImageAsync(PostgresCatalog catalog, NewImage image, long imageId, IReadOnlyList<long> faceIds, string what, List<string> lost)
    {
        var record = await catalog.FindImageAsync(image.Sha256);
        if (record is null)
        {
            lost.Add($"{what}: image {imageId} missing");
            return;
        }

        Assert.Equal(imageId, record.Id);
        Assert.Equal(Convert.ToHexStringLower(image.Sha256), record.Sha256Hex);
        var faces = await catalog.GetFacesOfImageAsync(imageId);
        Assert.Equal(faceIds, faces.Select(f => f.Id));
        var embeddings = await catalog.GetEmbeddingsOfImageAsync(imageId);
        Assert.Equal(faceIds, embeddings.Select(e => e.FaceId));
        for (var f = 0; f < faceIds.Count; f++)
        {
            Assert.Equal(image.Faces[f].Box, faces[f].Box);
            // The acknowledged write replaced each vector in place with what the catalog gives back.
            Assert.Equal(image.Faces[f].Embedding, embeddings[f].Vector);
        }
    }

    private static async Task CheckAuditAsync(PostgresCatalog catalog, Acknowledged acked, List<string> lost)
    {
        foreach (var events in acked.Audit)
        {
            foreach (var written in events)
            {
                var read = await catalog.ReadEventsAsync(written.Seq, 1);
                if (read.Count == 0)
                {
                    lost.Add($"audit event {written.Seq} ({written.Subject})");
                }
                else if (!read[0].Equals(written))
                {
                    lost.Add($"audit event {written.Seq} reads as {read[0]}, was acknowledged as {written}");
                }
            }
        }

        // Every event of the log, in order; an append in flight at the kill is there whole or not at all.
        var all = new List<AuditEvent>();
        for (var from = 1L; ; from += 1000)
        {
            var page = await catalog.ReadEventsAsync(from, 1000);
            all.AddRange(page);
            if (page.Count < 1000)
            {
                break;
            }
        }

        Assert.Equal(Enumerable.Range(1, all.Count).Select(i => (long)i), all.Select(e => e.Seq));
        var subjects = all.Select(e => e.Subject).ToHashSet();
        foreach (var attempt in acked.AuditAttempts)
        {
            var present = attempt.Count(e => subjects.Contains(e.Subject));
            Assert.True(present == 0 || present == attempt.Count, $"{present} of {attempt.Count} events of one append stored");
        }

        var verification = await catalog.VerifyAsync(null);
        Assert.True(verification.IsIntact, string.Join('\n', verification.Problems.Select(p => p.Message)));
    }

    private static async Task CheckCasesAsync(PostgresCatalog catalog, Acknowledged acked, List<string> lost)
    {
        foreach (var opened in acked.Cases)
        {
            var found = await catalog.FindCaseAsync(opened.Number);
            if (found is null)
            {
                lost.Add($"case {opened.Number}");
                continue;
            }

            Assert.Equal(
                (opened.Id, opened.Number, opened.Offence, opened.Purpose, opened.AuthorisationReference, opened.AuthorisedUntil, opened.Status, opened.CreatedAt, opened.CreatedBy),
                (found.Id, found.Number, found.Offence, found.Purpose, found.AuthorisationReference, found.AuthorisedUntil, found.Status, found.CreatedAt, found.CreatedBy));
        }

        // Opening a case appends its audit event in the same transaction: a recovered case has its event.
        var subjects = new HashSet<string>();
        for (var from = 1L; ; from += 1000)
        {
            var page = await catalog.ReadEventsAsync(from, 1000);
            subjects.UnionWith(page.Select(e => e.Subject));
            if (page.Count < 1000)
            {
                break;
            }
        }

        var attempted = acked.CaseAttempts.ToHashSet();
        foreach (var found in await catalog.ListCasesAsync())
        {
            Assert.Contains(found.Number, attempted);
            Assert.Contains($"case:{found.Number}", subjects);
        }
    }

    /// <summary>What each writer sent (attempts, recorded before the call) and what came back (only after it returned).</summary>
    private sealed class Acknowledged
    {
        public ConcurrentQueue<(long Run, List<IngestEntry> Entries)> IngestAttempts { get; } = new();

        public ConcurrentQueue<(long Run, List<IngestEntry> Entries, IReadOnlyList<IngestEntryResult> Results)> Ingest { get; } = new();

        public ConcurrentQueue<List<NewImage>> GalleryAttempts { get; } = new();

        public ConcurrentQueue<(List<NewImage> Images, IReadOnlyList<StoredImage> Stored)> Gallery { get; } = new();

        public ConcurrentQueue<List<NewAuditEvent>> AuditAttempts { get; } = new();

        public ConcurrentQueue<IReadOnlyList<AuditEvent>> Audit { get; } = new();

        public ConcurrentQueue<string> CaseAttempts { get; } = new();

        public ConcurrentQueue<CaseRecord> Cases { get; } = new();
    }
}
