using System.Text.Json;
using Lineup.Core.Audit;
using Lineup.Core.Oversight;
using Lineup.Hosting;
using Lineup.Ingest.Sources;
using Lineup.Storage;
using Lineup.TestSupport;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace Lineup.Cli.Tests;

/// <summary>
/// The retention acceptance test of the oversight issue, through the real engine (models, SQLite, USearch) with a fake
/// clock moved past each time-to-live in turn: probe photos go first, then candidate lists, then old audit events are
/// pruned while every checkpoint still verifies; a case on legal hold keeps its data until the hold is lifted; and a
/// byte scan of every file of the data directory finds no trace of any expired probe photo.
/// </summary>
public sealed class RetentionByteScanTests(ITestOutputHelper output)
{
    private static readonly string[] Gallery =
    [
        .. Enumerable.Range(1, 4).Select(i => $"lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_{i:0000}.jpg"),
        .. Enumerable.Range(1, 3).Select(i => $"lfw_deepfunneled/images/Nicole_Kidman/Nicole_Kidman_{i:0000}.jpg"),
        "lfw_deepfunneled/images/Carlos_Menem/Carlos_Menem_0001.jpg",
        "lfw_deepfunneled/images/Carlos_Menem/Carlos_Menem_0002.jpg",
    ];

    /// <summary>Probes are photos outside the gallery, so no byte of them reaches the data directory except as a stored probe.</summary>
    private const string FreeProbe = "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0005.jpg";

    private const string HeldProbe = "lfw_deepfunneled/images/Nicole_Kidman/Nicole_Kidman_0004.jpg";

    private const string HeldCase = "T-HOLD";

    private static readonly DateTimeOffset s_start = DateTimeOffset.Parse("2025-01-06T09:00:00Z");

    [SkippableFact]
    [Trait("Category", "Data")]
    public async Task Past_each_time_to_live_a_sweep_removes_that_class_a_legal_hold_keeps_it_and_no_probe_byte_is_left_on_disk()
    {
        using var dir = new TempDirectory("retention-scan");
        var folder = Engines.Gallery(dir, "gallery", Gallery);
        var clock = new FakeTimeProvider(s_start);
        var options = await Engines.OptionsAsync(dir);
        options.Clock = clock;
        var data = options.FullDataDirectory;
        var freeBytes = await File.ReadAllBytesAsync(TestPaths.Face(FreeProbe));
        var heldBytes = await File.ReadAllBytesAsync(TestPaths.Face(HeldProbe));
        var free = Needles("free probe", freeBytes);
        var held = Needles("held probe", heldBytes);
        using var key = AuditSigningKey.LoadOrCreate(data);

        var engine = await LineupEngine.OpenAsync(options);
        Checkpoint witnessed;
        long freeSearch, heldSearch, sweepReceipt;
        try
        {
            var collection = await engine.Catalog.EnsureCollectionAsync("retention", "unit test", "DE");
            await engine.IngestAsync(new FolderSource(folder, engine.Options.Limits.MaxBytes), collection);
            await TestCases.PrepareAsync(engine);
            await TestCases.PrepareAsync(engine, number: HeldCase);
            freeSearch = (await engine.SearchAsync(TestCases.Request(freeBytes) with { Top = 10 })).SearchId;
            heldSearch = (await engine.SearchAsync(TestCases.Request(heldBytes) with { CaseNumber = HeldCase, Top = 10 })).SearchId;
            await engine.Cases.SetLegalHoldAsync(HeldCase, true, "litigation", "tests");
            var faces = (await engine.Catalog.GetStatsAsync()).Faces;
            var indexed = engine.Index.Count;
            var freeCandidates = await engine.SearchLog.GetCandidatesAsync(freeSearch);
            var heldCandidates = await engine.SearchLog.GetCandidatesAsync(heldSearch);
            Assert.Equal(Math.Min(10, faces), freeCandidates.Count);
            Assert.Equal(Math.Min(10, faces), heldCandidates.Count);
            Assert.Equal(freeBytes, await engine.SearchLog.GetProbeAsync(freeSearch));

            // The control: before any sweep, the scan finds both probes in the catalog's files.
            var before = Scan(data, [.. free, .. held]);
            AssertFound(before, free, "free probe");
            AssertFound(before, held, "held probe");

            // Past the probe TTL (90 days): the free probe goes, its candidate list stays; the held case keeps both.
            clock.Advance(TimeSpan.FromDays(91));
            var probes = await SweepAsync(engine);
            Assert.Equal((1L, 1L, 0L), (probes.ProbesDeleted, probes.ProbesHeld, probes.CandidateListsDeleted));
            Assert.Null(await engine.SearchLog.GetProbeAsync(freeSearch));
            Assert.Equal(freeCandidates, await engine.SearchLog.GetCandidatesAsync(freeSearch));
            Assert.Equal(heldBytes, await engine.SearchLog.GetProbeAsync(heldSearch));
            var afterProbes = Scan(data, [.. free, .. held]);
            Assert.DoesNotContain(free, n => afterProbes.ContainsKey(n.Name));
            AssertFound(afterProbes, held, "held probe");

            // Past the candidate TTL (365 days): the free list goes; the held case still keeps its probe and list.
            clock.Advance(TimeSpan.FromDays(275));
            var lists = await SweepAsync(engine);
            Assert.Equal((1L, (long)freeCandidates.Count, 1L, 1L), (lists.CandidateListsDeleted, lists.CandidatesDeleted, lists.ProbesHeld, lists.CandidateListsHeld));
            Assert.Empty(await engine.SearchLog.GetCandidatesAsync(freeSearch));
            Assert.Equal(heldCandidates, await engine.SearchLog.GetCandidatesAsync(heldSearch));
            Assert.NotNull(await engine.SearchLog.GetSearchAsync(freeSearch));

            // Lifting the hold lets the next sweep take them.
            await engine.Cases.SetLegalHoldAsync(HeldCase, false, "settled", "tests");
            var released = await SweepAsync(engine);
            Assert.Equal((1L, 1L, (long)heldCandidates.Count), (released.ProbesDeleted, released.CandidateListsDeleted, released.CandidatesDeleted));
            Assert.Null(await engine.SearchLog.GetProbeAsync(heldSearch));
            Assert.Empty(await engine.SearchLog.GetCandidatesAsync(heldSearch));

            // A witness keeps a checkpoint; then the clock passes the audit TTL (ten years) from the first events.
            witnessed = await engine.Audit.CheckpointAsync(key);
            var firstEvents = await engine.Audit.ReadEventsAsync(1, 5);
            clock.AdjustTime(s_start.AddDays(3651));
            var audit = await SweepAsync(engine);
            sweepReceipt = audit.AuditSeq;
            output.WriteLine($"audit sweep: {audit.AuditEventsPruned} of {witnessed.TreeSize} events pruned, through {audit.PrunedThrough}");

            // Everything of the first day is pruned (the ingest, cases and searches), nothing from the first sweep on.
            Assert.True(audit.AuditEventsPruned > 5, $"{audit.AuditEventsPruned} events pruned");
            Assert.Equal(audit.AuditEventsPruned, audit.PrunedThrough);
            var events = await engine.Audit.ReadEventsAsync(1, 10_000);
            Assert.All(events.Take((int)audit.PrunedThrough), e => Assert.True(e.IsPruned && e.At < s_start.AddDays(1)));
            Assert.All(events.Skip((int)audit.PrunedThrough), e => Assert.False(e.IsPruned));
            Assert.Equal(AuditActions.Retention, events[(int)audit.PrunedThrough].Action);
            Assert.Equal(firstEvents.Select(e => Convert.ToHexString(e.LeafHash())), events.Take(5).Select(e => Convert.ToHexString(e.LeafHash())));

            // The log still verifies, and the witness's checkpoint is consistent with today's.
            var verification = await engine.Audit.VerifyAsync(key.Public);
            Assert.True(verification.IsIntact, string.Join("; ", verification.Problems.Select(p => p.Message)));
            var latest = await engine.Audit.CheckpointAsync(key);
            Assert.True((await engine.Audit.ConsistencyProofAsync(witnessed.TreeSize, latest.TreeSize)).Verify(witnessed.RootHash, latest.RootHash));
            Assert.True((await engine.Audit.InclusionProofAsync(1, witnessed.TreeSize)).Verify(witnessed.RootHash));

            // Retention never touches the gallery.
            Assert.Equal(faces, (await engine.Catalog.GetStatsAsync()).Faces);
            Assert.Equal(indexed, engine.Index.Count);

            // Every sweep's receipt is in the log.
            foreach (var report in new[] { probes, lists, released, audit })
            {
                var receipt = Assert.Single(await engine.Audit.ReadEventsAsync(report.AuditSeq, 1));
                Assert.Equal((AuditActions.Retention, "sweep", "test:retention"), (receipt.Action, receipt.Subject, receipt.Actor));
                Assert.Equal(report.ProbesDeleted, receipt.Details["probes"]!.Value.Integer);
                Assert.Equal(report.PrunedThrough, receipt.Details["pruned_through"]!.Value.Integer);
            }
        }
        finally
        {
            await engine.DisposeAsync();
        }

        // No byte of either probe is left in any file of the data directory.
        var after = Scan(data, [.. free, .. held]);
        Assert.True(after.Count == 0, "expired probe bytes still on disk: " + string.Join("; ", after.Select(a => $"{a.Key} in {string.Join(", ", a.Value)}")));

        // Someone with the file blanks a recent event the way pruning would (the trigger allows that update): verify says so.
        var victim = sweepReceipt - 1;
        using (var raw = new SqliteConnection($"Data Source={options.CatalogPath};Pooling=False"))
        {
            raw.Open();
            using var blank = raw.CreateCommand();
            blank.CommandText = "UPDATE audit_events SET actor = '', action = '', subject = '', details = '', pruned_at = at WHERE seq = $seq";
            blank.Parameters.AddWithValue("$seq", victim);
            Assert.Equal(1, blank.ExecuteNonQuery());
        }

        await using var catalog = await LineupEngine.OpenCatalogAsync(options);
        var tampered = await ((IAuditLog)catalog).VerifyAsync(key.Public);
        Assert.False(tampered.IsIntact);
        var problem = Assert.Single(tampered.Problems);
        Assert.Equal((AuditProblemKind.EventAltered, victim), (problem.Kind, problem.Seq));
    }

    [Fact]
    public async Task The_retention_commands_show_set_and_sweep_with_receipts()
    {
        using var dir = new TempDirectory("retention-cli");
        var data = dir.Combine("data");
        Task<CliResult> LineupAsync(params string[] args) => CliProcess.RunAsync(["--data", data, .. args]);

        var shown = await LineupAsync("retention", "show", "--json");
        Assert.True(shown.ExitCode == 0, shown.Stderr);
        using (var json = JsonDocument.Parse(shown.Stdout))
        {
            Assert.Equal(DataClasses.All, json.RootElement.EnumerateArray().Select(s => s.GetProperty("dataClass").GetString()!));
            Assert.Equal([90, 365, 3650], json.RootElement.EnumerateArray().Select(s => s.GetProperty("ttlDays").GetInt32()));
        }

        Assert.Equal(0, (await LineupAsync("retention", "set", "probe_images", "30")).ExitCode);
        var refused = await LineupAsync("retention", "set", "audit_events", "100");
        Assert.Equal(ExitCodes.BadInput, refused.ExitCode);
        Assert.Contains("candidate lists", refused.Stderr, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.BadInput, (await LineupAsync("retention", "set", "thumbnails", "30")).ExitCode);

        var table = await LineupAsync("retention", "show");
        Assert.Contains("probe_images", table.Stdout, StringComparison.Ordinal);
        Assert.Contains("30 days", table.Stdout, StringComparison.Ordinal);

        var sweep = await LineupAsync("retention", "sweep", "--json");
        Assert.True(sweep.ExitCode == 0, sweep.Stderr);
        long seq;
        using (var json = JsonDocument.Parse(sweep.Stdout))
        {
            Assert.Equal(30, json.RootElement.GetProperty("policy").GetProperty("probeImagesDays").GetInt32());
            Assert.Equal(0, json.RootElement.GetProperty("probesDeleted").GetInt64());
            seq = json.RootElement.GetProperty("auditSeq").GetInt64();
        }

        var options = new LineupOptions { DataDirectory = data };
        await using var catalog = await LineupEngine.OpenCatalogAsync(options);
        var events = await ((IAuditLog)catalog).ReadEventsAsync(1, 100);
        Assert.Equal(("admin", "retention:probe_images"), (events[0].Action, events[0].Subject));
        Assert.StartsWith("cli:", events[0].Actor, StringComparison.Ordinal);
        Assert.Equal((AuditActions.Retention, "sweep"), (events[^1].Action, events[^1].Subject));
        Assert.Equal(seq, events[^1].Seq);
        Assert.Equal(2, events.Count);
    }

    private async Task<SweepReport> SweepAsync(LineupEngine engine)
    {
        var sweep = await RetentionSweeper.SweepAsync(engine, "test:retention");
        var r = sweep.Report;
        output.WriteLine($"sweep at {r.At:yyyy-MM-dd}: probes -{r.ProbesDeleted} (held {r.ProbesHeld}), lists -{r.CandidateListsDeleted} " +
            $"(held {r.CandidateListsHeld}), audit pruned {r.AuditEventsPruned}; {sweep.Elapsed.TotalMilliseconds:0} ms");
        return r;
    }

    /// <summary>
    /// 64-byte windows of the probe file every 256 bytes past its JPEG headers (quantisation and Huffman tables that
    /// photos of one encoder share): entropy-coded data that no other file of the data directory can hold by chance.
    /// </summary>
    private static Needle[] Needles(string name, byte[] bytes) =>
        [.. Enumerable.Range(0, (bytes.Length - 1024 - 64) / 256).Select(i => new Needle($"{name} @{1024 + (i * 256)}", bytes.AsSpan(1024 + (i * 256), 64).ToArray()))];

    /// <summary>
    /// A stored probe larger than a page spans overflow pages, each starting with a 4-byte link: a window that straddles
    /// one is not contiguous on disk, but nearly every other window must be found.
    /// </summary>
    private static void AssertFound(Dictionary<string, List<string>> found, Needle[] needles, string what)
    {
        var hits = needles.Count(n => found.ContainsKey(n.Name));
        Assert.True(hits >= needles.Length * 9 / 10, $"{what}: the scan finds {hits} of {needles.Length} windows");
    }

    private static Dictionary<string, List<string>> Scan(string root, Needle[] needles) => ByteScan.Files(root, needles.Select(n => (n.Name, n.Bytes)));

    private sealed record Needle(string Name, byte[] Bytes);
}
