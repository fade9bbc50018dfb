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

        // Two workers with a short lease; the first is killed once it has committed something, while it holds claims.
        using var doomed = Process.Start(CliProcess.StartInfo(Distributed("worker", "--name", "doomed", "--lease", "5", "--workers", "1"), env))!;
        doomed.OutputDataReceived += (_, _) => { };
        doomed.ErrorDataReceived += (_, _) => { };
        doomed.BeginOutputReadLine();
        doomed.BeginErrorReadLine();
        Task<CliResult> survivor;
        long heldAtKill;
        try
        {
            // The first worker starts alone, the second once the first holds a claim. The first fetches its next batch as
            // soon as its first arrives, while the second is still starting (seconds: it loads the models), so it still
            // holds that batch when its first is committed, however fast the other works.
            await WaitUntilAsync(doomed, async () => await HeldByAsync("doomed") > 0, TimeSpan.FromMinutes(3), "the first worker took no claim");
            survivor = CliProcess.RunAsync(Distributed("worker", "--name", "survivor", "--lease", "5", "--workers", "1", "--until-idle", "--json"), env,
                TimeSpan.FromMinutes(10));
            await WaitUntilAsync(doomed, async () => await DoneByAsync("doomed") >= 5, TimeSpan.FromMinutes(5), "the first worker committed fewer than 5 items");

            // Kill it while it holds claims (mid-analysis), so that the survivor has to take them over.
            heldAtKill = await KillHoldingClaimsAsync(doomed, "doomed", TimeSpan.FromMinutes(2));
        }
        finally
        {
            if (!doomed.HasExited)
            {
                doomed.Kill(entireProcessTree: true);
            }
        }

        output.WriteLine($"killed 'doomed' after {await DoneByAsync("doomed")} committed items, holding {heldAtKill} claims");

        var finished = await survivor;
        Assert.True(finished.ExitCode is ExitCodes.Ok or ExitCodes.Partial, finished.Stderr);
        output.WriteLine(finished.Stdout);

        // Every item done once; the dead worker's claims were taken over (attempts > 1) by the survivor.
        Assert.Equal([$"done {Photos}"], await RowsAsync("SELECT state || ' ' || count(*) FROM ingest_work GROUP BY state"));
        Assert.Equal(Photos.ToString(System.Globalization.CultureInfo.InvariantCulture), (await RowsAsync("SELECT count(*) FROM ingest_items"))[0]);
        Assert.Equal(["completed"], await RowsAsync("SELECT status FROM ingest_runs"));
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

    /// <summary>
    /// The items <paramref name="worker"/> holds: claimed, or committed to the catalog with the index add unconfirmed
    /// ('indexing'). Both are under its lease, and both are taken over (attempts + 1) once the lease has passed.
    /// </summary>
    private async Task<long> HeldByAsync(string worker) =>
        long.Parse((await RowsAsync($"SELECT count(*) FROM ingest_work WHERE state IN ('claimed', 'indexing') AND worker = '{worker}'"))[0],
            System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The queue by worker and state ("worker state count" rows), for failure messages.</summary>
    private async Task<string> QueueAsync() =>
        string.Join("; ", await RowsAsync("SELECT coalesce(worker, '-') || ' ' || state || ' ' || count(*) FROM ingest_work GROUP BY worker, state ORDER BY 1"));

    /// <summary>Polls <paramref name="condition"/> every 100 ms until it holds; fails with the queue's state at the timeout.</summary>
    private async Task WaitUntilAsync(Process worker, Func<Task<bool>> condition, TimeSpan timeout, string failure)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (worker.HasExited)
            {
                Assert.Fail($"{failure}: it ended (exit code {worker.ExitCode}); queue: {await QueueAsync()}");
            }

            if (DateTime.UtcNow >= deadline)
            {
                Assert.Fail($"{failure} within {timeout.TotalMinutes:0} minutes; queue: {await QueueAsync()}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>
    /// Kills <paramref name="worker"/> (SIGKILL) at a moment it holds claims and answers how many it held then. It is
    /// stopped (SIGSTOP) before they are counted, so that it can neither commit nor claim between the count and the kill.
    /// A COMMIT it sent before the stop still lands (the PostgreSQL server is not stopped), so the count is taken once two
    /// reads 200 ms apart agree; what it had not committed is rolled back when it dies. Holding nothing at that moment
    /// (between its last commit and its next claim), it is resumed (SIGCONT) and looked at again.
    /// </summary>
    private async Task<long> KillHoldingClaimsAsync(Process worker, string name, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (worker.HasExited)
            {
                Assert.Fail($"the worker '{name}' ended before it could be killed (exit code {worker.ExitCode})");
            }

            await SignalAsync(worker, "STOP");
            var held = await HeldByAsync(name);
            for (var reads = 1; ; reads++)
            {
                await Task.Delay(200);
                var again = await HeldByAsync(name);
                if (again == held)
                {
                    break;
                }

                // The lease (5 s) outlasts a few reads; a count still moving after them is not a stopped worker's.
                Assert.True(reads < 5, $"the claims of the stopped worker '{name}' kept changing ({held}, then {again})");
                held = again;
            }

            if (held > 0)
            {
                worker.Kill(entireProcessTree: true);
                await worker.WaitForExitAsync();
                return held;
            }

            await SignalAsync(worker, "CONT");
            if (DateTime.UtcNow >= deadline)
            {
                Assert.Fail($"the worker '{name}' held no claim to be killed with in {timeout.TotalMinutes:0} minutes; queue: {await QueueAsync()}");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>Sends the signal <paramref name="signal"/> (STOP, CONT) to <paramref name="process"/> with kill(1).</summary>
    private static async Task SignalAsync(Process process, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill")
        {
            ArgumentList = { "-" + signal, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            UseShellExecute = false,
        })!;
        await kill.WaitForExitAsync();
        Assert.True(kill.ExitCode == 0, $"kill -{signal} {process.Id} exited with {kill.ExitCode}");
    }

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
