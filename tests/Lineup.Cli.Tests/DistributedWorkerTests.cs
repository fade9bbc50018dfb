using System.Diagnostics;
using Lineup.TestSupport;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace Lineup.Cli.Tests;

/// <summary>
/// Distributed ingest end to end, with real processes: <c>lineup ingest --queue</c> into a PostgreSQL catalog and a
/// Garnet cluster index, two <c>lineup worker</c> processes, one of them killed with SIGKILL mid-run. The other finishes
/// the dead worker's items once its lease has passed, and the catalog holds exactly what an embedded ingest of the same
/// photos holds: every item once, every image once, the same faces per image.
/// </summary>
[Trait("Category", "Data")]
public sealed class DistributedWorkerTests(ITestOutputHelper output) : DistributedCliTest("workers")
{
    /// <summary>Photos in the test run: enough that a worker is still busy when it is killed, few enough for CI.</summary>
    private const int Photos = 120;

    [SkippableFact]
    public async Task Two_workers_one_killed_mid_run_ingest_every_item_exactly_once()
    {
        var photos = CopySubset(TestPaths.RequireFaces());
        await StartAsync();
        var env = Env;

        var queued = await CliProcess.RunAsync(Distributed("ingest", photos, "--queue", "--collection", "dev", "--lawful-basis", "test photos", "--jurisdiction", "DE"), env);
        Assert.True(queued.ExitCode == ExitCodes.Ok, queued.Stderr + queued.Stdout);
        Assert.Contains($"{Photos} items", queued.Stdout, StringComparison.Ordinal);

        // Two workers with a short lease; the first is killed once it has committed something.
        using var doomed = Process.Start(CliProcess.StartInfo(Distributed("worker", "--name", "doomed", "--lease", "5", "--workers", "1"), env))!;
        doomed.OutputDataReceived += (_, _) => { };
        doomed.ErrorDataReceived += (_, _) => { };
        doomed.BeginOutputReadLine();
        doomed.BeginErrorReadLine();
        var survivor = CliProcess.RunAsync(Distributed("worker", "--name", "survivor", "--lease", "5", "--workers", "1", "--until-idle", "--json"), env,
            TimeSpan.FromMinutes(10));

        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (await DoneByAsync("doomed") < 5 && DateTime.UtcNow < deadline && !doomed.HasExited)
        {
            await Task.Delay(100);
        }

        // Kill it while it holds claims (mid-analysis), so that the survivor has to take them over.
        while (await ClaimedByAsync("doomed") == 0 && DateTime.UtcNow < deadline && !doomed.HasExited)
        {
            await Task.Delay(20);
        }

        Assert.False(doomed.HasExited, "the first worker ended before it could be killed");
        var heldAtKill = await ClaimedByAsync("doomed");
        doomed.Kill(entireProcessTree: true);
        await doomed.WaitForExitAsync();
        output.WriteLine($"killed 'doomed' after {await DoneByAsync("doomed")} committed items, holding {heldAtKill} claims");

        var finished = await survivor;
        Assert.True(finished.ExitCode is ExitCodes.Ok or ExitCodes.Partial, finished.Stderr);
        output.WriteLine(finished.Stdout);

        // Every item done once; the dead worker's claims were taken over (attempts > 1) by the survivor.
        Assert.Equal([$"done {Photos}"], await RowsAsync("SELECT state || ' ' || count(*) FROM ingest_work GROUP BY state"));
        Assert.Equal(Photos.ToString(System.Globalization.CultureInfo.InvariantCulture), (await RowsAsync("SELECT count(*) FROM ingest_items"))[0]);
        Assert.Equal(["completed"], await RowsAsync("SELECT status FROM ingest_runs"));
        Assert.True(heldAtKill > 0, "the first worker held no claims when it was killed");
        Assert.Equal(heldAtKill, (await RowsAsync("SELECT seq FROM ingest_work WHERE attempts > 1 AND worker = 'survivor'")).Length);

        // The same catalog as an embedded ingest of the same photos: the same images and faces per image. Which copy of a
        // near-duplicate group is stored depends on which commit came first, and workers commit out of source order
        // (the survivor commits the dead worker's items after its own), so the comparison is of the groups: the items
        // each stored image stands for, with its face count. Items with a stored image of their own compare exactly.
        var embedded = Dir.Combine("embedded");
        var reference = await CliProcess.RunAsync(
            ["--data", embedded, "--models", TestPaths.ModelCache, "ingest", photos, "--collection", "dev", "--lawful-basis", "test photos", "--jurisdiction", "DE"],
            timeout: TimeSpan.FromMinutes(10));
        Assert.True(reference.ExitCode is ExitCodes.Ok or ExitCodes.Partial, reference.Stderr);
        // A near-duplicate copy is stored as an image row of its own, without faces, pointing at its original.
        const string Items = """
            SELECT i.seq || ' ' || coalesce(coalesce(im.near_duplicate_of, im.id), -1) || ' '
                   || (SELECT count(*) FROM faces f WHERE f.image_id = coalesce(im.near_duplicate_of, im.id))
            FROM ingest_items i LEFT JOIN images im ON im.id = i.image_id
            """;
        var expected = Groups(SqliteRows(embedded, Items));
        var actual = Groups(await RowsAsync(Items));
        Assert.Equal(expected, actual);
        const string Ungrouped =
            "FROM images i WHERE i.near_duplicate_of IS NULL AND NOT EXISTS (SELECT 1 FROM images c WHERE c.near_duplicate_of = i.id) ORDER BY 1";
        Assert.Equal(SqliteRows(embedded, "SELECT lower(hex(i.sha256)) " + Ungrouped), await RowsAsync("SELECT encode(i.sha256, 'hex') " + Ungrouped));
        Assert.Equal(SqliteRows(embedded, "SELECT count(*) FROM images"), await RowsAsync("SELECT count(*) FROM images"));
        Assert.Equal(
            SqliteRows(embedded, "SELECT status || ' ' || count(*) FROM ingest_items GROUP BY status ORDER BY 1"),
            await RowsAsync("SELECT status || ' ' || count(*) FROM ingest_items GROUP BY status ORDER BY 1"));

        // The shared index holds exactly the catalogued faces.
        var status = await CliProcess.RunAsync(Distributed("cluster", "status", "--json"), env);
        Assert.True(status.ExitCode == ExitCodes.Ok, status.Stderr + status.Stdout);
        var faces = (await RowsAsync("SELECT count(*) FROM faces"))[0];
        Assert.Contains($"\"indexedFaces\": {faces}", status.Stdout, StringComparison.Ordinal);
        Assert.Contains($"\"catalogFaces\": {faces}", status.Stdout, StringComparison.Ordinal);
    }

    private string CopySubset(string faces)
    {
        // Copies (outside the repository) of the first photos in a stable order: the workers' source folder.
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

    private async Task<long> DoneByAsync(string worker) =>
        long.Parse((await RowsAsync($"SELECT count(*) FROM ingest_work WHERE state = 'done' AND worker = '{worker}'"))[0], System.Globalization.CultureInfo.InvariantCulture);

    private async Task<long> ClaimedByAsync(string worker) =>
        long.Parse((await RowsAsync($"SELECT count(*) FROM ingest_work WHERE state = 'claimed' AND worker = '{worker}'"))[0], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// "seq original faces" rows grouped by original image: "seq,seq,… faces" per original (with its near-duplicate
    /// copies and exact duplicates), and "seq none" for items that stored nothing.
    /// </summary>
    private static string[] Groups(string[] rows) =>
    [
        .. rows.Select(r => r.Split(' ')).GroupBy(r => r[1] == "-1" ? "none " + r[0] : r[1])
            .Select(g => string.Join(',', g.Select(r => long.Parse(r[0], System.Globalization.CultureInfo.InvariantCulture)).Order())
                + (g.Key.StartsWith("none", StringComparison.Ordinal) ? " none" : " " + g.First()[2]))
            .Order(StringComparer.Ordinal),
    ];

    private static string[] SqliteRows(string data, string sql)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(data, "catalog.db")};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var rows = new List<string>();
        while (reader.Read())
        {
            rows.Add(Convert.ToString(reader.GetValue(0), System.Globalization.CultureInfo.InvariantCulture)!);
        }

        return [.. rows];
    }
}
