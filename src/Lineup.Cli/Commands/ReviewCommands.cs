using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Lineup.Core.Security;
using Lineup.Hosting;
using Lineup.Server.Api;
using Lineup.Server.Security;
using Spectre.Console;

namespace Lineup.Cli.Commands;

/// <summary>
/// <c>lineup review</c>: the two-person confirmation from the command line, acting as a catalog user (<c>--as</c>, else
/// LINEUP_USER, else the operating-system user) with that user's permissions, exactly as the server would: the same
/// rules (in the catalog's write transaction), the same need-to-know and the same independence of reviewers. Needs no models.
/// </summary>
public static class ReviewCommands
{
    /// <summary>As the API writes JSON (camelCase names and enums), so a package reads the same from either.</summary>
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    public static Command Build()
    {
        var review = new Command("review", "Two-person confirmation of candidates: queue, confirm, reject, show, export");
        review.Subcommands.Add(Queue());
        review.Subcommands.Add(Decide("confirm", "Confirm a candidate as the same person as the probe (once; nobody confirms their own search)", ReviewDecision.Confirm));
        review.Subcommands.Add(Decide("reject", "Reject a candidate (once; the reason is required and kept)", ReviewDecision.Reject));
        review.Subcommands.Add(Show());
        review.Subcommands.Add(Export());
        return review;
    }

    private static Option<string?> AsOption() =>
        new("--as") { Description = "The Lineup user acting (default: $LINEUP_USER, else the operating-system user name)" };

    private static string User(ParseResult parse, Option<string?> option) =>
        parse.GetValue(option) is { Length: > 0 } name ? name
        : Environment.GetEnvironmentVariable("LINEUP_USER") is { Length: > 0 } env ? env
        : Environment.UserName;

    private static Command Queue()
    {
        var user = AsOption();
        var limit = new Option<int>("--limit") { Description = "At most this many candidates (1–1000)", DefaultValueFactory = _ => 100 };
        var json = new Option<bool>("--json") { Description = "Print as JSON" };
        var command = new Command("queue", "Candidates waiting for your decision, oldest search first") { user, limit, json };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            if (parse.GetValue(limit) is < 1 or > 1000)
            {
                return GlobalOptions.Fail(ExitCodes.BadInput, "--limit must be between 1 and 1000.");
            }

            var options = GlobalOptions.Resolve(parse);
            var name = User(parse, user);
            await using var catalog = await LineupEngine.OpenCatalogAsync(options, ct);
            var account = await Users(catalog).FindUserAsync(name, ct);
            if (ReviewRules.CheckReviewer(account, name, options.Clock.GetUtcNow()) is { } blocked)
            {
                return GlobalOptions.Fail(ExitCodes.Refused, $"refused ({blocked.Code}): {blocked.Message}");
            }

            var items = (await Reviews(catalog).ReviewQueueAsync(account!.Name, parse.GetValue(limit), ct)).Select(ReviewItemDto.From).ToList();
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(items, s_json));
                return ExitCodes.Ok;
            }

            // No count of confirmations: the queue must not tell a reviewer what others decided.
            var table = new Table().AddColumns("search", "rank", "case", "searched", "face", "image", "similarity", "est. FMR");
            foreach (var i in items)
            {
                table.AddRow(
                    Number(i.SearchId), Number(i.Rank), Markup.Escape(i.CaseNumber), i.SearchedAt.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),
                    Number(i.FaceId), Number(i.ImageId), i.Similarity.ToString("0.000", CultureInfo.InvariantCulture),
                    i.EstimatedFmr?.ToString("0.###e0", CultureInfo.InvariantCulture) ?? "");
            }

            AnsiConsole.MarkupLineInterpolated($"{items.Count} candidate(s) waiting for [bold]{account.Name}[/]:");
            AnsiConsole.Write(table);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Decide(string verb, string description, ReviewDecision decision)
    {
        var user = AsOption();
        var search = new Argument<long>("search") { Description = "The search id" };
        var rank = new Argument<int>("rank") { Description = "The candidate's rank in the search" };
        var reason = new Option<string?>("--reason")
        {
            Description = decision == ReviewDecision.Reject ? "Why the candidate is not the person (required)" : "What you noted (optional)",
        };
        var command = new Command(verb, description) { search, rank, reason, user };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            await using var catalog = await LineupEngine.OpenCatalogAsync(options, ct);
            var recorded = await Reviews(catalog).DecideAsync(
                parse.GetValue(search), parse.GetValue(rank), User(parse, user), decision, parse.GetValue(reason), options.Clock.GetUtcNow(), ct);
            // The answer is the user's own decision, never the candidate's status (that would reveal the other reviewer's).
            AnsiConsole.MarkupLineInterpolated(
                $"Recorded: [bold]{recorded.User}[/] {(decision == ReviewDecision.Confirm ? "confirmed" : "rejected")} candidate {recorded.Rank} of search {recorded.SearchId} at {recorded.At:yyyy-MM-dd HH:mm:ss} UTC.");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Show()
    {
        var user = AsOption();
        var search = new Argument<long>("search") { Description = "The search id" };
        var json = new Option<bool>("--json") { Description = "Print as JSON" };
        var command = new Command("show", "A search's candidates with their review as you may see it") { search, user, json };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            var id = parse.GetValue(search);
            await using var catalog = await LineupEngine.OpenCatalogAsync(options, ct);
            var (account, has) = await ActorAsync(catalog, User(parse, user), ct);
            var (record, found) = await SearchAndCaseAsync(catalog, id, ct);
            if (record is null || found is null || !ReviewApi.MaySeeCase(account.Name, has, found))
            {
                return GlobalOptions.Fail(ExitCodes.NotFound, $"There is no search {id} that {account.Name} may see.");
            }

            var candidates = await Log(catalog).GetCandidatesAsync(id, ct);
            var decisions = await Reviews(catalog).GetDecisionsAsync(id, ct);
            await Audit(catalog).AppendAsync(new NewAuditEvent(account.Name, AuditActions.View, $"candidates:{id}",
                AuditDetails.Empty.With("case", found.Number).With("candidates", candidates.Count).With("via", "cli")), ct);
            var views = ReviewApi.CandidateViews(ReviewApi.Viewer(account.Name, has, record, found), found, candidates, decisions);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(
                    new SearchCandidatesDto(record.Id, found.Id, found.Number, record.At, record.By, record.ProbeSource, ReviewApi.ProbeUrl(record.Id), views,
                        SearchApi.Disclaimer), s_json));
                return ExitCodes.Ok;
            }

            AnsiConsole.MarkupLineInterpolated($"Search {record.Id} of case [bold]{found.Number}[/] by {record.By} at {record.At:yyyy-MM-dd HH:mm} UTC ({record.ProbeSource ?? "no attestation"}):");
            var table = new Table().AddColumns("rank", "face", "image", "similarity", "above", "status", "decisions shown", "you may decide");
            foreach (var v in views)
            {
                table.AddRow(
                    Number(v.Rank), Number(v.FaceId), Number(v.ImageId), v.Similarity.ToString("0.000", CultureInfo.InvariantCulture), v.AboveThreshold ? "yes" : "",
                    v.Status is { } s ? Markup.Escape(s.ToString()) : "[grey]not shown[/]",
                    Markup.Escape(string.Join("; ", v.Decisions.Select(d => $"{d.User} {d.Decision.ToString().ToLowerInvariant()} {d.At:yyyy-MM-dd}{(d.Reason is null ? "" : $" ({d.Reason})")}"))),
                    v.MayDecide ? "yes" : "");
            }

            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"[grey]{Markup.Escape(SearchApi.Disclaimer)}[/]");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Export()
    {
        var user = AsOption();
        var search = new Argument<long>("search") { Description = "The search id" };
        var rank = new Argument<int>("rank") { Description = "The candidate's rank in the search" };
        var output = new Option<string?>("--out", "-o") { Description = "Write the lead package (JSON) to this file instead of standard output" };
        var command = new Command("export", "The lead package of a candidate two reviewers confirmed (refused, and audited, for anything else)")
        {
            search, rank, user, output,
        };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            var (id, number) = (parse.GetValue(search), parse.GetValue(rank));
            await using var catalog = await LineupEngine.OpenCatalogAsync(options, ct);
            var (account, has) = await ActorAsync(catalog, User(parse, user), ct);
            if (!has(Permissions.Export))
            {
                return GlobalOptions.Fail(ExitCodes.Refused, $"refused: user '{account.Name}' may not export leads (roles: {Roles.Format(account.Roles)}).");
            }

            var (record, found) = await SearchAndCaseAsync(catalog, id, ct);
            if (record is null || found is null || !ReviewApi.MaySeeCase(account.Name, has, found))
            {
                if (record is not null)
                {
                    await Audit(catalog).AppendAsync(new NewAuditEvent(account.Name, AuditActions.Export, $"candidate:{id}/{number}",
                        AuditDetails.Empty.With("outcome", "refused").With("refusal", ReviewRefusals.NotAssigned)), ct);
                }

                return GlobalOptions.Fail(ExitCodes.NotFound, $"There is no search {id} that {account.Name} may see.");
            }

            LeadExport export;
            try
            {
                export = await Reviews(catalog).ExportLeadAsync(id, number, account.Name, ct);
            }
            catch (ReviewRefusedException e) when (e.Status is { } status)
            {
                var viewer = ReviewApi.Viewer(account.Name, has, record, found);
                var decisions = (await Reviews(catalog).GetDecisionsAsync(id, ct)).Where(d => d.Rank == number);
                var hidden = viewer.IsReviewer && !viewer.IsSearcher && ReviewVisibility.For(viewer, decisions).Status is null;
                return GlobalOptions.Fail(ExitCodes.Refused, $"refused ({e.Code}): {e.Message}{(hidden ? "" : $" Status: {status}.")}");
            }

            var image = await catalog.GetImageAsync(export.Candidate.ImageId, ct);
            var collection = image is null ? null : (await catalog.ListCollectionsAsync(ct)).FirstOrDefault(c => c.Id == image.CollectionId);
            var json = JsonSerializer.Serialize(LeadPackageDto.From(export, image, collection, account.Name), s_json);
            if (parse.GetValue(output) is { Length: > 0 } path)
            {
                await File.WriteAllTextAsync(path, json + Environment.NewLine, ct);
                AnsiConsole.MarkupLineInterpolated($"Lead package of candidate {number} of search {id} written to {path} (audit event {export.AuditSeq}).");
            }
            else
            {
                Console.WriteLine(json);
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>The acting catalog user and their permissions (as the server would grant them); an unknown or disabled user is refused.</summary>
    private static async Task<(UserAccount Account, Func<string, bool> Has)> ActorAsync(ICatalog catalog, string name, CancellationToken ct)
    {
        var account = await Users(catalog).FindUserAsync(name, ct) ?? throw new ArgumentException($"There is no user '{name}' (use --as USER).");
        if (account.IsDisabled)
        {
            throw new ArgumentException($"User '{account.Name}' is disabled.");
        }

        var permissions = Permissions.Of(account.Roles);
        return (account, permissions.Contains);
    }

    private static async Task<(SearchRecord? Search, CaseRecord? Case)> SearchAndCaseAsync(ICatalog catalog, long id, CancellationToken ct)
    {
        var record = await Log(catalog).GetSearchAsync(id, ct);
        var cases = catalog as ICaseStore ?? throw new InvalidOperationException("This catalog keeps no cases.");
        return record?.CaseId is { } caseId ? (record, await cases.GetCaseAsync(caseId, ct)) : (record, null);
    }

    private static string Number(long n) => n.ToString(CultureInfo.InvariantCulture);

    private static IReviewStore Reviews(ICatalog catalog) =>
        catalog as IReviewStore ?? throw new InvalidOperationException("This catalog keeps no reviews.");

    private static ISearchLog Log(ICatalog catalog) =>
        catalog as ISearchLog ?? throw new InvalidOperationException("This catalog keeps no search record.");

    private static IUserStore Users(ICatalog catalog) =>
        catalog as IUserStore ?? throw new InvalidOperationException("This catalog keeps no users.");

    private static IAuditLog Audit(ICatalog catalog) =>
        catalog as IAuditLog ?? throw new InvalidOperationException("This catalog keeps no audit log.");
}
