using System.Diagnostics;
using Lineup.Hosting;
using Lineup.TestSupport;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace Lineup.Cli.Tests;

/// <summary>
/// Crash safety end to end: the real <c>lineup ingest</c> process over every shared DEV photo, killed with
/// SIGKILL at 20 random points and started again each time (it resumes on its own), must end with exactly the
/// catalog a clean run produces.
/// </summary>
[Trait("Category", "Data")]
public sealed class CrashResumeTests(ITestOutputHelper output)
{
    private const int Kills = 20;

    [SkippableFact]
    public async Task An_ingest_killed_20_times_and_resumed_ends_with_the_catalog_of_a_clean_run()
    {
        var photos = TestPaths.RequireFaces();
        await TestPaths.ModelsAsync();
        using var dir = new TempDirectory("crash");
        string[] Ingest(string data) =>
            ["--data", data, "--models", TestPaths.ModelCache, "ingest", photos, "--collection", "dev", "--lawful-basis", "test photos", "--jurisdiction", "DE"];

        var clean = dir.Combine("clean");
        var reference = await CliProcess.RunAsync(Ingest(clean), timeout: TimeSpan.FromMinutes(10));
        Assert.True(reference.ExitCode is ExitCodes.Ok or ExitCodes.Partial, reference.Stderr);

        var crashed = dir.Combine("crashed");
        var seed = Environment.TickCount;
        output.WriteLine($"kill schedule seed {seed}");
        var random = new Random(seed);
        for (var kill = 1; kill <= Kills; kill++)
        {
            using var process = Process.Start(CliProcess.StartInfo(Ingest(crashed)))!;
            var started = new TaskCompletionSource();
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is { } line && (line.StartsWith("Ingest run", StringComparison.Ordinal) || line.StartsWith("Resuming ingest run", StringComparison.Ordinal)))
                {
                    started.TrySetResult();
                }
            };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();

            // Every fifth kill lands while the process is still setting up; the others once it has committed
            // something, at a random moment after that (mid-analysis, mid-transaction, mid-index-update).
            await started.Task.WaitAsync(TimeSpan.FromMinutes(2));
            if (kill % 5 != 0)
            {
                var before = Count(crashed, "ingest_items");
                var deadline = DateTime.UtcNow.AddMinutes(2);
                while (Count(crashed, "ingest_items") == before && !process.HasExited && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(20);
                }
            }

            var delay = random.Next(0, kill % 5 != 0 ? 1500 : 800);
            await Task.Delay(delay);
            Assert.False(process.HasExited, $"kill {kill}: the ingest finished before it could be killed");
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            output.WriteLine($"kill {kill}: {delay} ms after {(kill % 5 != 0 ? "its first commit" : "the run started")}, {Count(crashed, "ingest_items")} items committed");
        }

        var finish = await CliProcess.RunAsync(Ingest(crashed), timeout: TimeSpan.FromMinutes(10));
        Assert.True(finish.ExitCode is ExitCodes.Ok or ExitCodes.Partial, finish.Stderr);
        Assert.Contains("Resuming ingest run", finish.Stdout, StringComparison.Ordinal);

        var expected = Snapshot(clean);
        var actual = Snapshot(crashed);
        Assert.Equal("ok", actual.Integrity);
        Assert.Equal(expected.Images.Length, actual.Images.Length);
        Assert.Equal(expected.Images, actual.Images);
        Assert.Equal(expected.Faces, actual.Faces);
        Assert.Equal(expected.Sightings, actual.Sightings);
        Assert.Equal(expected.Items, actual.Items);
        Assert.Equal(["1 completed"], actual.Runs);
        output.WriteLine($"{actual.Images.Length} images, {actual.Faces.Length} faces, {actual.Items.Length} items; runs: {string.Join(", ", actual.Runs)}; resumes {Count(crashed, "ingest_runs WHERE resumes > 0")}");

        // The index agrees with the catalog: exactly the catalogued face ids.
        var options = new LineupOptions { DataDirectory = crashed, ModelsDirectory = TestPaths.ModelCache, Workers = 2 };
        await using var engine = await LineupEngine.OpenAsync(options);
        Assert.Equal(actual.FaceIds.Length, engine.Index.Count);
        Assert.All(actual.FaceIds, id => Assert.True(engine.Index.Contains(id), $"face {id} is not in the index"));
    }

    private sealed record CatalogSnapshot(string Integrity, string[] Images, string[] Faces, string[] Sightings, string[] Items, string[] Runs, long[] FaceIds);

    private static CatalogSnapshot Snapshot(string data)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(data, "catalog.db")};Mode=ReadOnly;Pooling=False");
        connection.Open();
        string[] Rows(string sql)
        {
            using var command = connection.CreateCommand();
            command.CommandText = sql;
            using var reader = command.ExecuteReader();
            var rows = new List<string>();
            while (reader.Read())
            {
                rows.Add(string.Join("|", Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? "∅" : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture))));
            }

            return [.. rows];
        }

        return new CatalogSnapshot(
            Rows("PRAGMA integrity_check")[0],
            Rows("""
                SELECT i.id, hex(i.sha256), i.format, i.width, i.height, i.phash, i.near_duplicate_of, i.original_path, i.collection_id
                FROM images i ORDER BY i.id
                """),
            Rows("""
                SELECT f.id, f.image_id, f.x1, f.y1, f.x2, f.y2, f.left_eye_x, f.right_eye_y, f.detector_score, hex(f.embedding), f.model_id
                FROM faces f ORDER BY f.id
                """),
            Rows("SELECT image_id, source_url, page_url, original_path, run_id FROM sightings ORDER BY image_id, id"),
            Rows("SELECT run_id, seq, name, status, faces, image_id, reason FROM ingest_items ORDER BY run_id, seq"),
            Rows("SELECT id || ' ' || status FROM ingest_runs ORDER BY id"),
            [.. Rows("SELECT id FROM faces ORDER BY id").Select(long.Parse)]);
    }

    private static long Count(string data, string table)
    {
        var path = Path.Combine(data, "catalog.db");
        if (!File.Exists(path))
        {
            return 0;
        }

        try
        {
            using var connection = new SqliteConnection($"Data Source={path};Mode=ReadOnly;Pooling=False");
            connection.Open();
            using var count = connection.CreateCommand();
            count.CommandText = $"SELECT count(*) FROM {table}";
            return (long)count.ExecuteScalar()!;
        }
        catch (SqliteException)
        {
            return 0;
        }
    }
}
