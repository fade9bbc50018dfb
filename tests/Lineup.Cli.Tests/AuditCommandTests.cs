using System.Text.Json;
using Lineup.Core.Audit;
using Lineup.Storage;
using Lineup.TestSupport;
using Microsoft.Data.Sqlite;

namespace Lineup.Cli.Tests;

/// <summary>
/// <c>lineup audit</c> as a real process against a data directory: verify's exit codes, and a witness's exported
/// checkpoint checked for consistency as the log grows, after tampering, after a rewrite and after a key change.
/// </summary>
public sealed class AuditCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new("audit-cli");

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.Combine("data");

    private string CatalogPath => Path.Combine(Data, "catalog.db");

    private Task<CliResult> LineupAsync(params string[] args) => CliProcess.RunAsync(["--data", Data, .. args]);

    [Fact]
    public async Task Verify_exits_0_on_a_clean_log_and_8_once_an_event_is_changed()
    {
        await AppendAsync(1, 200);
        Assert.Equal(0, (await LineupAsync("audit", "checkpoint")).ExitCode);

        var clean = await LineupAsync("audit", "verify");
        Assert.True(clean.ExitCode == 0, clean.Stdout + clean.Stderr);
        Assert.Contains("Intact", clean.Stdout);
        using (var json = JsonDocument.Parse((await LineupAsync("audit", "verify", "--json")).Stdout))
        {
            Assert.True(json.RootElement.GetProperty("isIntact").GetBoolean());
            Assert.Equal(200, json.RootElement.GetProperty("events").GetInt64());
            Assert.Equal(200, json.RootElement.GetProperty("latestCheckpoint").GetProperty("treeSize").GetInt64());
        }

        var list = await LineupAsync("audit", "list", "--from", "5", "--count", "3", "--json");
        Assert.Equal(0, list.ExitCode);
        using (var json = JsonDocument.Parse(list.Stdout))
        {
            Assert.Equal([5L, 6, 7], json.RootElement.EnumerateArray().Select(e => e.GetProperty("seq").GetInt64()));
            Assert.Equal("user5", json.RootElement[0].GetProperty("actor").GetString());
            Assert.Equal(5, json.RootElement[0].GetProperty("details").GetProperty("n").GetInt64());
        }

        Execute("DROP TRIGGER audit_events_no_update; UPDATE audit_events SET actor = 'mallory' WHERE seq = 50;");
        var tampered = await LineupAsync("audit", "verify");
        Assert.Equal(8, tampered.ExitCode);
        Assert.Contains("TAMPERED", tampered.Stdout);
        Assert.Contains("Event 50", tampered.Stdout);
        using (var json = JsonDocument.Parse((await LineupAsync("audit", "verify", "--json")).Stdout))
        {
            Assert.False(json.RootElement.GetProperty("isIntact").GetBoolean());
            Assert.Equal(50, json.RootElement.GetProperty("firstBadSeq").GetInt64());
            Assert.Equal(200, json.RootElement.GetProperty("firstBadCheckpoint").GetInt64());
        }

        // An event slipped in behind the catalog's back: the log refuses to sign, with the same exit code.
        await AppendRawAsync();
        var resign = await LineupAsync("audit", "checkpoint");
        Assert.Equal(8, resign.ExitCode);
        Assert.Contains("altered outside Lineup", resign.Stderr);
    }

    [Fact]
    public async Task A_witness_checkpoint_stays_consistent_as_the_log_grows_and_fails_after_tampering()
    {
        await AppendAsync(1, 100);
        var witness = _dir.File("witness.json");
        var export = await LineupAsync("audit", "checkpoint", "--export", witness);
        Assert.True(export.ExitCode == 0, export.Stdout + export.Stderr);

        // The file holds a C2SP signed note and the verifier key a witness configures.
        using (var json = JsonDocument.Parse(File.ReadAllText(witness)))
        {
            var note = CheckpointNote.Parse(json.RootElement.GetProperty("note").GetString()!);
            var key = AuditPublicKey.FromVerifierKey(json.RootElement.GetProperty("verifierKey").GetString()!);
            Assert.Equal(100, note.ToCheckpoint(key)?.TreeSize);
            Assert.Equal(AuditPublicKey.LoadFromDataDirectory(Data)!.KeyId, key.KeyId);
        }

        await AppendAsync(101, 250);
        var grown = await LineupAsync("audit", "check-consistency", "--checkpoint", witness);
        Assert.True(grown.ExitCode == 0, grown.Stdout + grown.Stderr);
        Assert.Contains("Consistent", grown.Stdout);
        Assert.Equal(0, (await LineupAsync("audit", "checkpoint")).ExitCode);
        Assert.Equal(0, (await LineupAsync("audit", "check-consistency", "--checkpoint", witness)).ExitCode);

        // A bare signed note is checked with the log's own key.
        var bare = _dir.File("witness.note");
        using (var json = JsonDocument.Parse(File.ReadAllText(witness)))
        {
            File.WriteAllText(bare, json.RootElement.GetProperty("note").GetString());
        }

        Assert.Equal(0, (await LineupAsync("audit", "check-consistency", "--checkpoint", bare)).ExitCode);

        // An event after the witnessed range is changed: today's log still extends the checkpoint, but fails verification.
        Execute("DROP TRIGGER audit_events_no_update; UPDATE audit_events SET subject = 'image:0' WHERE seq = 200;");
        var after = await LineupAsync("audit", "check-consistency", "--checkpoint", witness, "--json");
        Assert.Equal(8, after.ExitCode);
        using (var json = JsonDocument.Parse(after.Stdout))
        {
            Assert.False(json.RootElement.GetProperty("consistent").GetBoolean());
            Assert.Contains("fails verification", json.RootElement.GetProperty("reason").GetString());
        }

        // An event inside it (its stored leaf hash left alone): the events no longer hash to the witnessed root.
        Execute("UPDATE audit_events SET subject = 'image:0' WHERE seq = 42;");
        var inside = await LineupAsync("audit", "check-consistency", "--checkpoint", witness, "--json");
        Assert.Equal(8, inside.ExitCode);
        using (var json = JsonDocument.Parse(inside.Stdout))
        {
            Assert.Contains("event 42, inside the witnessed 100, was altered", json.RootElement.GetProperty("reason").GetString());
        }
    }

    [Fact]
    public async Task A_rewritten_history_a_new_key_or_a_shorter_log_fails_the_witness_check()
    {
        await AppendAsync(1, 100);
        var witness = _dir.File("witness.json");
        Assert.Equal(0, (await LineupAsync("audit", "checkpoint", "--export", witness)).ExitCode);

        // Rewritten: the same key, a new catalog whose event 10 differs, re-signed. It verifies on its own...
        File.Delete(CatalogPath);
        await AppendAsync(1, 120, rewrite: 10);
        Assert.Equal(0, (await LineupAsync("audit", "checkpoint")).ExitCode);
        Assert.Equal(0, (await LineupAsync("audit", "verify")).ExitCode);

        // ...but not against what the witness kept.
        var rewritten = await LineupAsync("audit", "check-consistency", "--checkpoint", witness);
        Assert.Equal(8, rewritten.ExitCode);
        Assert.Contains("history was rewritten", rewritten.Stdout);

        // Shorter than the witnessed log.
        File.Delete(CatalogPath);
        await AppendAsync(1, 60);
        var shorter = await LineupAsync("audit", "check-consistency", "--checkpoint", witness);
        Assert.Equal(8, shorter.ExitCode);
        Assert.Contains("fewer than", shorter.Stdout);

        // A new key: the log is no longer signed by the key the witness knows.
        Directory.Delete(Path.Combine(Data, AuditSigningKey.KeysDirectoryName), recursive: true);
        File.Delete(CatalogPath);
        await AppendAsync(1, 100);
        Assert.Equal(0, (await LineupAsync("audit", "checkpoint")).ExitCode);
        var rekeyed = await LineupAsync("audit", "check-consistency", "--checkpoint", witness);
        Assert.Equal(8, rekeyed.ExitCode);
        Assert.Contains("no longer signed by", rekeyed.Stdout);

        // A witness file whose note was edited does not verify at all.
        var forged = _dir.File("forged.json");
        File.WriteAllText(forged, File.ReadAllText(witness).Replace("\\n100\\n", "\\n99\\n", StringComparison.Ordinal));
        var edited = await LineupAsync("audit", "check-consistency", "--checkpoint", forged);
        Assert.Equal(8, edited.ExitCode);
        Assert.Contains("not signed", edited.Stdout);
    }

    /// <summary>Appends events <paramref name="from"/>..<paramref name="to"/> as a process sharing the data directory would.</summary>
    private async Task AppendAsync(int from, int to, int rewrite = 0)
    {
        await using var catalog = await SqliteCatalog.OpenAsync(CatalogPath, "test-model");
        var events = Enumerable.Range(from, to - from + 1)
            .Select(i => new NewAuditEvent(i == rewrite ? "someone-else" : $"user{i}", AuditActions.View, $"image:{i}", AuditDetails.Empty.With("n", i)))
            .ToList();
        await catalog.AppendAsync(events);
    }

    /// <summary>An event inserted behind the catalog's back (the tree state is not updated).</summary>
    private Task AppendRawAsync()
    {
        var e = new NewAuditEvent("mallory", AuditActions.Admin, "user:1").At(201, DateTimeOffset.UnixEpoch);
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "INSERT INTO audit_events(seq, at, actor, action, subject, details, leaf_hash) VALUES (201, $at, 'mallory', 'admin', 'user:1', '{}', $leaf)";
        command.Parameters.AddWithValue("$at", AuditEvent.FormatTime(e.At));
        command.Parameters.AddWithValue("$leaf", e.LeafHash());
        command.ExecuteNonQuery();
        return Task.CompletedTask;
    }

    private void Execute(string sql)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection($"Data Source={CatalogPath};Pooling=False");
        connection.Open();
        return connection;
    }
}
