using System.Globalization;
using System.Security.Cryptography;
using Lineup.TestSupport;

namespace Lineup.Cli.Tests;

/// <summary>
/// A queued run whose folder changes before the workers get to it, end to end with real processes (<c>lineup ingest
/// --queue</c>, <c>lineup worker</c>, <c>lineup cluster status</c>) on PostgreSQL and the Garnet cluster. Workers open
/// the source themselves and find each claimed item by its sequence number; an item whose name there is no longer the
/// queued one (a file renamed, or one removed before it) or that is gone (the folder is shorter) is recorded as failed
/// with the reason, never analysed under the wrong name. The rest of the run is ingested and completes, the index holds
/// exactly the catalogued faces, and a new run of the folder picks up what the failed items left.
/// </summary>
[Trait("Category", "Data")]
public sealed class DistributedChangedSourceTests() : DistributedCliTest("changed-source")
{
    private const int Photos = 6;

    [SkippableFact]
    public async Task Items_renamed_or_removed_after_queueing_are_recorded_failed_with_the_reason_and_the_rest_is_ingested()
    {
        var photos = CopyPhotos(TestPaths.RequireFaces());
        await StartAsync();
        var env = Env;
        string[] queue = ["ingest", photos, "--queue", "--collection", "dev", "--lawful-basis", "test photos", "--jurisdiction", "DE"];
        string[] work = ["worker", "--name", "w", "--until-idle", "--workers", "1"];

        var queued = await CliProcess.RunAsync(Distributed(queue), env);
        Assert.True(queued.ExitCode == ExitCodes.Ok, queued.Stderr + queued.Stdout);
        Assert.Contains($"{Photos} items", queued.Stdout, StringComparison.Ordinal);

        // After queueing: 0002.jpg is renamed (item 3 now has another name) and the last file is removed (there is no
        // item 6 any more). Items 1, 2, 4 and 5 are where and what they were.
        var renamed = Hash(Path.Combine(photos, "0002.jpg"));
        var removed = Hash(Path.Combine(photos, "0005.jpg"));
        var kept = new[] { "0000.jpg", "0001.jpg", "0003.jpg", "0004.jpg" }.Select(f => Hash(Path.Combine(photos, f))).ToList();
        File.Move(Path.Combine(photos, "0002.jpg"), Path.Combine(photos, "0002x.jpg"));
        File.Delete(Path.Combine(photos, "0005.jpg"));

        var worked = await CliProcess.RunAsync(Distributed(work), env, TimeSpan.FromMinutes(10));
        Assert.True(worked.ExitCode == ExitCodes.Partial, $"exit {worked.ExitCode}: {worked.Stderr}{worked.Stdout}");
        var changed = $"0002.jpg: the source {photos} has changed since the run was queued (item 3 is now '0002x.jpg')";
        var gone = $"0005.jpg: the source {photos} no longer has item 6";
        Assert.Contains("failed: " + changed, worked.Stderr, StringComparison.Ordinal);
        Assert.Contains("failed: " + gone, worked.Stderr, StringComparison.Ordinal);

        // The ledger: every item once, the two changed ones failed with the reason and no image, the others stored.
        var items = await RowsAsync("SELECT seq || '|' || status || '|' || coalesce(reason, '') || '|' || (image_id IS NOT NULL) FROM ingest_items ORDER BY seq");
        Assert.Equal(Photos, items.Length);
        Assert.Equal($"2|failed|{changed}|false", items[2]);
        Assert.Equal($"5|failed|{gone}|false", items[5]);
        foreach (var i in new[] { 0, 1, 3, 4 })
        {
            var row = items[i].Split('|');
            Assert.NotEqual("failed", row[1]);
            Assert.Equal("true", row[3]);
        }

        Assert.Equal([$"done {Photos}"], await RowsAsync("SELECT state || ' ' || count(*) FROM ingest_work GROUP BY state"));
        Assert.Equal([$"completed {Photos} {Photos}"], await RowsAsync("SELECT status || ' ' || items_done || ' ' || total_items FROM ingest_runs"));

        // Only the unchanged items' bytes were stored; nothing of the renamed or removed files.
        var stored = await RowsAsync("SELECT encode(sha256, 'hex') FROM images ORDER BY 1");
        Assert.Equal(kept.Order(StringComparer.Ordinal), stored);
        Assert.DoesNotContain(renamed, stored);
        Assert.DoesNotContain(removed, stored);
        await AssertIndexMatchesCatalogAsync(Distributed, env);

        // Nothing is lost: a new run of the folder as it is now ingests the renamed photo and finds the rest catalogued.
        var again = await CliProcess.RunAsync(Distributed(queue), env);
        Assert.True(again.ExitCode == ExitCodes.Ok, again.Stderr + again.Stdout);
        Assert.Contains($"{Photos - 1} items", again.Stdout, StringComparison.Ordinal);
        var rework = await CliProcess.RunAsync(Distributed(work), env, TimeSpan.FromMinutes(10));
        Assert.True(rework.ExitCode == ExitCodes.Ok, $"exit {rework.ExitCode}: {rework.Stderr}{rework.Stdout}");
        Assert.Equal(
            ["0000.jpg|duplicate", "0001.jpg|duplicate", "0002x.jpg|stored", "0003.jpg|duplicate", "0004.jpg|duplicate"],
            await RowsAsync(
                """
                SELECT name || '|' || CASE WHEN status = 'duplicate' THEN 'duplicate' WHEN image_id IS NOT NULL AND status <> 'failed' THEN 'stored' ELSE status END
                FROM ingest_items WHERE run_id = (SELECT max(id) FROM ingest_runs) ORDER BY seq
                """));
        var all = kept.Append(renamed).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(all, await RowsAsync("SELECT encode(sha256, 'hex') FROM images ORDER BY 1"));
        Assert.Equal(["completed", "completed"], await RowsAsync("SELECT status FROM ingest_runs ORDER BY id"));
        await AssertIndexMatchesCatalogAsync(Distributed, env);
    }

    /// <summary>Nothing half-written: the shared index holds exactly the catalogued faces, and there are some.</summary>
    private async Task AssertIndexMatchesCatalogAsync(Func<string[], string[]> distributed, Dictionary<string, string> env)
    {
        var faces = long.Parse((await RowsAsync("SELECT count(*) FROM faces"))[0], CultureInfo.InvariantCulture);
        Assert.True(faces > 0, "the stored photos have no faces, so the index comparison would prove nothing");
        var status = await CliProcess.RunAsync(distributed(["cluster", "status", "--json"]), env);
        Assert.True(status.ExitCode == ExitCodes.Ok, status.Stderr + status.Stdout);
        Assert.Contains($"\"indexedFaces\": {faces}", status.Stdout, StringComparison.Ordinal);
        Assert.Contains($"\"catalogFaces\": {faces}", status.Stdout, StringComparison.Ordinal);
    }

    private string CopyPhotos(string faces)
    {
        // Copies (outside the repository) of the first photos in a stable order, named so that their order is known.
        var target = Dir.Combine("photos");
        Directory.CreateDirectory(target);
        var chosen = Directory.EnumerateFiles(faces, "*.jpg", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Take(Photos).ToList();
        Skip.If(chosen.Count < Photos && !TestPaths.IsCi, "not enough shared photos");
        for (var i = 0; i < chosen.Count; i++)
        {
            File.Copy(chosen[i], Path.Combine(target, $"{i:D4}.jpg"));
        }

        return target;
    }

    private static string Hash(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));
}
