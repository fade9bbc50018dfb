using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Hosting;
using Lineup.Storage;
using Spectre.Console;

namespace Lineup.Cli.Commands;

/// <summary>
/// <c>lineup audit</c>: verify the tamper-evident audit log, sign checkpoints and export them for a witness, check a
/// witness's checkpoint against today's log, list events. Needs no models. Exit code 8 means the log failed a check.
/// </summary>
public static class AuditCommands
{
    /// <summary>The form of an exported checkpoint file: the signed note plus the verifier key a witness keeps.</summary>
    public const string ExportFormat = "lineup-audit-checkpoint/1";

    private const int ListedProblems = 20;

    /// <summary>Indented, with '+' and '/' of base64 written as themselves: the file is read by people and witnesses, never embedded in HTML.</summary>
    private static readonly JsonSerializerOptions s_fileJson = new(SearchCommands.Json) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Build()
    {
        var audit = new Command("audit", "The tamper-evident audit log: verify, checkpoint, check a witness's checkpoint, list events");
        audit.Subcommands.Add(Verify());
        audit.Subcommands.Add(Checkpoint());
        audit.Subcommands.Add(CheckConsistency());
        audit.Subcommands.Add(List());
        return audit;
    }

    private static Command Verify()
    {
        var json = new Option<bool>("--json") { Description = "Print the verification report as JSON" };
        var command = new Command("verify", "Recompute every event hash, checkpoint root, signature and consistency proof (exit 8 when anything fails)") { json };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            await using var catalog = await LineupEngine.OpenCatalogAsync(options, ct);
            var key = AuditPublicKey.LoadFromDataDirectory(options.FullDataDirectory);
            var asJson = parse.GetValue(json);
            var lines = GlobalOptions.Progress(parse);
            var progress = asJson ? null : new SyncProgress<AuditVerifyProgress>(p =>
            {
                if (p.Verified < p.Total)
                {
                    lines.Report($"verified {p.Verified:N0} of {p.Total:N0} events");
                }
            });
            var report = await Log(catalog).VerifyAsync(key, progress, ct);
            if (asJson)
            {
                Console.WriteLine(JsonSerializer.Serialize(ReportDto(report, key), SearchCommands.Json));
            }
            else
            {
                PrintReport(report, key);
            }

            return report.IsIntact ? ExitCodes.Ok : ExitCodes.AuditFailed;
        }));
        return command;
    }

    private static Command Checkpoint()
    {
        var export = new Option<string?>("--export") { Description = "Also write the signed checkpoint and the log's verifier key to FILE, for a witness to keep" };
        var command = new Command("checkpoint", "Sign the log's current size and root (creating the key on first use) and store the checkpoint") { export };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            await using var catalog = await LineupEngine.OpenCatalogAsync(options, ct);
            using var key = AuditSigningKey.LoadOrCreate(options.FullDataDirectory);
            Core.Audit.Checkpoint checkpoint;
            try
            {
                checkpoint = await Log(catalog).CheckpointAsync(key, ct);
            }
            catch (CatalogException e)
            {
                return GlobalOptions.Fail(ExitCodes.AuditFailed, e.Message);
            }

            AnsiConsole.MarkupLineInterpolated(
                $"Checkpoint: [bold]{checkpoint.TreeSize:N0}[/] events, root {Convert.ToHexStringLower(checkpoint.RootHash)}, signed by {key.Origin} at {checkpoint.Timestamp:u}.");
            if (parse.GetValue(export) is { Length: > 0 } file)
            {
                var bundle = new CheckpointFile(
                    ExportFormat, key.Origin, checkpoint.TreeSize, Convert.ToBase64String(checkpoint.RootHash), checkpoint.Timestamp,
                    checkpoint.ToSignedNote(key), key.Public.VerifierKey);
                await WriteAtomicallyAsync(Path.GetFullPath(file), JsonSerializer.Serialize(bundle, s_fileJson) + "\n", ct);
                AnsiConsole.MarkupLineInterpolated($"Wrote {Path.GetFullPath(file)}: give it to a witness, who later runs `lineup audit check-consistency --checkpoint FILE`.");
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command CheckConsistency()
    {
        var file = new Option<string>("--checkpoint")
        {
            Description = "A checkpoint file from `audit checkpoint --export` (or a bare signed note, checked with the log's own key)",
            Required = true,
        };
        var json = new Option<bool>("--json") { Description = "Print the outcome as JSON" };
        var command = new Command(
            "check-consistency",
            "Check a witness's old checkpoint: its signature, and that today's log extends it (an RFC 6962 consistency proof); exit 8 when not")
        { file, json };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            var path = parse.GetValue(file)!;
            var text = await File.ReadAllTextAsync(path, ct);
            var localKey = AuditPublicKey.LoadFromDataDirectory(options.FullDataDirectory);
            AuditPublicKey witnessKey;
            string noteText;
            if (text.TrimStart().StartsWith('{'))
            {
                var bundle = JsonSerializer.Deserialize<CheckpointFile>(text, s_fileJson)
                    ?? throw new FormatException($"'{path}' is not a checkpoint file.");
                if (bundle.Format != ExportFormat || bundle.Note is null || bundle.VerifierKey is null)
                {
                    throw new FormatException($"'{path}' is not a {ExportFormat} file.");
                }

                witnessKey = AuditPublicKey.FromVerifierKey(bundle.VerifierKey);
                noteText = bundle.Note;
            }
            else
            {
                witnessKey = localKey ?? throw new FormatException("A bare signed note is checked with the log's public key, and this data directory has none.");
                noteText = text;
            }

            await using var catalog = await LineupEngine.OpenCatalogAsync(options, ct);
            var outcome = await CheckAsync(Log(catalog), CheckpointNote.Parse(noteText), witnessKey, localKey, ct);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(outcome, SearchCommands.Json));
            }
            else if (outcome.Consistent)
            {
                AnsiConsole.MarkupLineInterpolated(
                    $"[green]Consistent[/]: the log ({outcome.CurrentSize:N0} events) extends the checkpoint at {outcome.CheckpointSize:N0} events signed {outcome.CheckpointTime:u}.");
            }
            else
            {
                AnsiConsole.MarkupLineInterpolated($"[red]NOT CONSISTENT[/]: {outcome.Reason}");
            }

            return outcome.Consistent ? ExitCodes.Ok : ExitCodes.AuditFailed;
        }));
        return command;
    }

    private static Command List()
    {
        var from = new Option<long>("--from") { Description = "First sequence number", DefaultValueFactory = _ => 1 };
        var count = new Option<int>("--count") { Description = "Most events to list", DefaultValueFactory = _ => 50 };
        var json = new Option<bool>("--json") { Description = "Print as JSON" };
        var command = new Command("list", "List audit events in order") { from, count, json };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            if (parse.GetValue(count) < 0)
            {
                throw new ArgumentException("--count must be 0 or more.");
            }

            await using var catalog = await LineupEngine.OpenCatalogAsync(GlobalOptions.Resolve(parse), ct);
            var events = await Log(catalog).ReadEventsAsync(parse.GetValue(from), parse.GetValue(count), ct);
            if (parse.GetValue(json))
            {
                var rows = events.Select(e => new
                {
                    e.Seq, e.At, e.Actor, e.Action, e.Subject,
                    Details = JsonDocument.Parse(e.Details.ToCanonicalJson()).RootElement,
                    LeafHash = Convert.ToHexStringLower(e.LeafHash()),
                });
                Console.WriteLine(JsonSerializer.Serialize(rows, SearchCommands.Json));
                return ExitCodes.Ok;
            }

            var table = new Table().AddColumns("seq", "at", "actor", "action", "subject", "details");
            foreach (var e in events)
            {
                table.AddRow(
                    e.Seq.ToString("N0"), e.At.ToString("u"), Markup.Escape(e.Actor), Markup.Escape(e.Action), Markup.Escape(e.Subject),
                    Markup.Escape(e.Details.ToCanonicalJson()));
            }

            AnsiConsole.Write(table);
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>
    /// Whether today's log extends a witness's checkpoint: the checkpoint's signature verifies with the witness's key, the
    /// log is still signed by that key, it holds at least as many events, an RFC 6962 consistency proof joins the
    /// checkpoint's root to today's head, and full verification finds every event still hashing to its leaf.
    /// </summary>
    private static async Task<ConsistencyOutcome> CheckAsync(
        IAuditLog log, CheckpointNote note, AuditPublicKey witnessKey, AuditPublicKey? localKey, CancellationToken ct)
    {
        ConsistencyOutcome Fail(string reason, long currentSize = 0) =>
            new(false, note.TreeSize, note.Timestamp, currentSize, reason);

        if (note.ToCheckpoint(witnessKey) is not { } old)
        {
            return Fail($"the checkpoint is not signed by the key {witnessKey.Origin} it names (or its text was changed).");
        }

        if (localKey is null || localKey.KeyId != witnessKey.KeyId)
        {
            return Fail($"the log is no longer signed by {witnessKey.Origin}, the key of the witnessed checkpoint (now: {localKey?.Origin ?? "no key"}).");
        }

        var verification = await log.VerifyAsync(localKey, null, ct);
        var current = await log.TreeHeadAsync(ct);
        if (current.TreeSize < old.TreeSize)
        {
            return Fail($"the log holds {current.TreeSize:N0} events, fewer than the {old.TreeSize:N0} of the witnessed checkpoint: events were removed.", current.TreeSize);
        }

        // The proof is built from the stored leaf hashes and checked against the stored head; verification then says
        // whether the events still hash to those leaves.
        bool consistent;
        try
        {
            consistent = (await log.ConsistencyProofAsync(old.TreeSize, current.TreeSize, ct)).Verify(old.RootHash, current.RootHash);
        }
        catch (Exception e) when (e is CatalogException or ArgumentOutOfRangeException)
        {
            return Fail($"no consistency proof can be built: {e.Message}", current.TreeSize);
        }

        if (!consistent)
        {
            return Fail(
                $"the first {old.TreeSize:N0} events are not the ones the witness saw: no consistency proof joins the checkpoint to today's log (history was rewritten).",
                current.TreeSize);
        }

        if (verification.IsIntact)
        {
            return new ConsistencyOutcome(true, old.TreeSize, old.Timestamp, current.TreeSize, null);
        }

        return verification.FirstBadSeq is { } bad && bad <= old.TreeSize
            ? Fail($"event {bad:N0}, inside the witnessed {old.TreeSize:N0}, was altered: its fields no longer hash to the leaf the witnessed root covers.", current.TreeSize)
            : Fail($"the log extends the checkpoint but fails verification ({verification.ProblemCount:N0} problems; run `lineup audit verify`).", current.TreeSize);
    }

    private static void PrintReport(AuditVerification report, AuditPublicKey? key)
    {
        var latest = report.LatestCheckpoint is { } c ? $"latest: {c.TreeSize:N0} events, {c.Timestamp:u}" : "none yet";
        AnsiConsole.MarkupLineInterpolated(
            $"Audit log: {report.Events:N0} events, root {report.Head.RootHex}; {report.Checkpoints} checkpoints ({latest}); key {key?.Origin ?? "none"}.");
        if (report.IsIntact)
        {
            AnsiConsole.MarkupLine("[green]Intact[/]: every event hashes to its leaf; every checkpoint's root, signature and consistency with the latest verify.");
            if (report.UnanchoredEvents > 0)
            {
                AnsiConsole.MarkupLineInterpolated(
                    $"[grey]{report.UnanchoredEvents:N0} events came after the latest checkpoint; `lineup audit checkpoint --export FILE` anchors them for a witness.[/]");
            }

            return;
        }

        AnsiConsole.MarkupLineInterpolated(
            $"[red]TAMPERED[/]: {report.ProblemCount:N0} problems; first bad event: {report.FirstBadSeq?.ToString("N0") ?? "none"}; first bad checkpoint: {report.FirstBadCheckpoint?.ToString("N0") ?? "none"}.");
        foreach (var problem in report.Problems.Take(ListedProblems))
        {
            AnsiConsole.MarkupLineInterpolated($"  {problem.Kind}: {problem.Message}");
        }

        if (report.ProblemCount > ListedProblems)
        {
            AnsiConsole.MarkupLineInterpolated($"  … and {report.ProblemCount - ListedProblems:N0} more (see --json).");
        }
    }

    private static object ReportDto(AuditVerification report, AuditPublicKey? key) => new
    {
        report.IsIntact,
        report.Events,
        RootHash = report.Head.RootHex,
        report.Checkpoints,
        LatestCheckpoint = report.LatestCheckpoint is { } c
            ? new { c.TreeSize, RootHash = Convert.ToHexStringLower(c.RootHash), c.Timestamp, c.KeyId }
            : null,
        Key = key is null ? null : new { key.Origin, key.KeyId, key.VerifierKey },
        report.UnanchoredEvents,
        report.ProblemCount,
        report.FirstBadSeq,
        report.FirstBadCheckpoint,
        report.Problems,
    };

    private static IAuditLog Log(ICatalog catalog) =>
        catalog as IAuditLog ?? throw new InvalidOperationException("This catalog keeps no audit log.");

    /// <summary>Writes beside the target and renames over it, so a witness never keeps half a file.</summary>
    private static async Task WriteAtomicallyAsync(string path, string content, CancellationToken ct)
    {
        var directory = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(directory);
        var temporary = Path.Combine(directory, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            await File.WriteAllTextAsync(temporary, content, ct);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>An exported checkpoint: the signed note is authoritative, the other fields repeat it for people.</summary>
    private sealed record CheckpointFile(
        string Format, string Origin, long TreeSize, string RootHash, DateTimeOffset Timestamp, string Note, string VerifierKey);

    private sealed record ConsistencyOutcome(bool Consistent, long CheckpointSize, DateTimeOffset? CheckpointTime, long CurrentSize, string? Reason);

    /// <summary>Reports on the calling thread, in order.</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
