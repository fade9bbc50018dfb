using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Lineup.Core.Catalog;
using Lineup.Core.Network;
using Lineup.Hosting;
using Spectre.Console;

namespace Lineup.Cli.Commands;

/// <summary>
/// <c>lineup network</c>: identity clusters and the co-appearance graph. Clustering and its status are gallery
/// maintenance (acting as the operating-system user, no case); every query, export and correction is made by a Lineup
/// user (<c>--as</c>) for a case (<c>--case</c>), passes the case gate of a search and is audited. A refusal exits 9, an
/// unknown identity or face 3, a bad option 2.
/// </summary>
public static class NetworkCommands
{
    // One instance each, added to every query command (System.CommandLine lets a symbol have several parents).
    private static readonly Option<string> s_case = new("--case") { Description = "The case the query is for (open, authorised, and the user assigned to it)", Required = true };

    private static readonly Option<string> s_as = new("--as") { Description = "The Lineup user asking (an analyst or supervisor assigned to the case)", Required = true };

    private static readonly Option<bool> s_json = Json();

    public static Command Build()
    {
        var network = new Command("network", "Identity clusters and the co-appearance graph: cluster, status, identities, identity, associates, path, edge, communities, export, merge, split, move, name, eval");
        network.Subcommands.Add(Cluster());
        network.Subcommands.Add(Status());
        network.Subcommands.Add(Identities());
        network.Subcommands.Add(Identity());
        network.Subcommands.Add(Associates());
        network.Subcommands.Add(PathCommand());
        network.Subcommands.Add(Edge());
        network.Subcommands.Add(Communities());
        network.Subcommands.Add(Export());
        network.Subcommands.Add(Merge());
        network.Subcommands.Add(Split());
        network.Subcommands.Add(Move());
        network.Subcommands.Add(Name());
        network.Subcommands.Add(NetworkEvalCommand.Build());
        return network;
    }

    // ---- Maintenance (no case) -----------------------------------------------------------------------------------

    private static Command Cluster()
    {
        var full = new Option<bool>("--full") { Description = "Re-cluster every face (rebuild the neighbour graph), not only the faces added since the last run" };
        var json = Json();
        var command = new Command("cluster", "Group the gallery's faces into identities (new faces only, unless --full); analysts' corrections are kept") { full, json };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            var progress = ErrorProgress(parse);
            await using var engine = await LineupEngine.OpenAsync(options, progress, ct);
            var run = await ClusterAsync(engine, parse.GetValue(full), progress, ct);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(RunDto(run), SearchCommands.Json));
            }
            else
            {
                PrintRun(run);
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>Runs a clustering as the operating-system user, reporting its stages as lines on <paramref name="progress"/>.</summary>
    internal static Task<ClusteringRun> ClusterAsync(LineupEngine engine, bool full, IProgress<string> progress, CancellationToken ct)
    {
        var last = "";
        var stages = new SyncProgress<ClusteringProgress>(p =>
        {
            var line = p.Stage == "neighbours"
                ? string.Create(CultureInfo.InvariantCulture, $"clustering: neighbours {p.Done:N0}/{p.Total:N0} faces")
                : $"clustering: {p.Stage}";
            if (line != last)
            {
                last = line;
                progress.Report(line);
            }
        });
        return engine.Network.ClusterAsync(full, EraseCommands.Actor, stages, ct);
    }

    private static Command Status()
    {
        var json = Json();
        var command = new Command("status", "When the gallery was last clustered, into how many identities, with which parameters (no person data)") { json };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            await using var catalog = await LineupEngine.OpenCatalogAsync(options, ct);
            var store = catalog as INetworkStore ?? throw new InvalidOperationException("This catalog keeps no identities.");
            var state = await store.GetClusteringStateAsync(ct);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    identities = state?.Identities ?? 0,
                    faces = state?.Faces ?? 0,
                    version = state?.Version ?? 0,
                    clusteredAt = state?.ClusteredAt,
                    clusteredThroughFaceId = state?.ClusteredThroughFaceId ?? 0,
                    modelId = state?.ModelId,
                    parameters = state?.Parameters ?? options.Network.Parameters,
                }, SearchCommands.Json));
                return ExitCodes.Ok;
            }

            if (state is null)
            {
                AnsiConsole.MarkupLine("The gallery was never clustered: run [bold]lineup network cluster[/].");
                return ExitCodes.Ok;
            }

            var p = state.Parameters;
            AnsiConsole.MarkupLineInterpolated(
                $"[bold]{state.Identities:N0}[/] identities over {state.Faces:N0} faces, clustered {state.ClusteredAt:yyyy-MM-dd HH:mm} UTC (version {state.Version}, faces through id {state.ClusteredThroughFaceId}, model {state.ModelId}).");
            AnsiConsole.MarkupLineInterpolated(
                $"[grey]parameters: {p.Neighbours} neighbours at cosine ≥ {p.EdgeThreshold:0.00}; merge at supported mean ≥ {p.MergeThreshold:0.00} (support {p.Support:0.##}); quality floor {p.QualityFloor:0.#}[/]");
            if (p != options.Network.Parameters)
            {
                AnsiConsole.MarkupLine("[yellow]The configured parameters differ: the next `lineup network cluster` re-clusters every face.[/]");
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    // ---- Queries (a user, a case, gated and audited) ------------------------------------------------------------

    private static Command Identities()
    {
        var minFaces = new Option<int>("--min-faces") { Description = "Only identities with at least this many faces", DefaultValueFactory = _ => 2 };
        var limit = new Option<int>("--limit") { Description = "At most this many (1 to 1,000), the most faces first", DefaultValueFactory = _ => 50 };
        var offset = new Option<int>("--offset") { Description = "Skip this many", DefaultValueFactory = _ => 0 };
        var command = Query("identities", "Identities, the most faces first", minFaces, limit, offset);
        command.SetAction((parse, ct) => RunQueryAsync(parse, ct, () =>
        {
            Require(parse.GetValue(minFaces) >= 1, "--min-faces", "must be at least 1");
            Require(parse.GetValue(limit) is >= 1 and <= 1_000, "--limit", "must be 1 to 1,000");
            Require(parse.GetValue(offset) >= 0, "--offset", "must be at least 0");
        }, async (engine, query) =>
        {
            var identities = await engine.Network.ListIdentitiesAsync(query, parse.GetValue(minFaces), parse.GetValue(limit), parse.GetValue(offset), ct);
            if (IsJson(parse))
            {
                Console.WriteLine(JsonSerializer.Serialize(new { identities = identities.Select(Dto) }, SearchCommands.Json));
                return ExitCodes.Ok;
            }

            AnsiConsole.Write(IdentityTable(identities));
            AnsiConsole.MarkupLineInterpolated($"[grey]{identities.Count} identit{(identities.Count == 1 ? "y" : "ies")}; an identity is a cluster of similar faces, a lead for a person to review, not an identification.[/]");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Identity()
    {
        var id = new Argument<long>("id") { Description = "The identity" };
        var command = Query("identity", "An identity: its faces and its timeline (sightings by capture date and source)", id);
        command.SetAction((parse, ct) => RunQueryAsync(parse, ct, null, async (engine, query) =>
        {
            var view = await engine.Network.GetIdentityAsync(query, parse.GetValue(id), ct);
            var photos = (await engine.Catalog.GetFacesWithImagesAsync([.. view.Faces.Select(f => f.FaceId)], ct)).ToDictionary(f => f.Face.Id, f => f.Image);
            if (IsJson(parse))
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    identity = Dto(view.Identity),
                    faces = view.Faces.Select(f => new
                    {
                        f.FaceId,
                        f.ImageId,
                        f.Quality,
                        f.Locked,
                        originalPath = photos.GetValueOrDefault(f.FaceId)?.Provenance.OriginalPath,
                        sourceUrl = photos.GetValueOrDefault(f.FaceId)?.Provenance.SourceUrl,
                    }),
                    timeline = view.Timeline.Select(t => new { t.FaceId, t.ImageId, t.CapturedAt, t.SeenAt, t.Collection, t.SourceUrl, t.PageUrl, domain = Domain(t.PageUrl ?? t.SourceUrl) }),
                }, SearchCommands.Json));
                return ExitCodes.Ok;
            }

            AnsiConsole.Write(IdentityTable([view.Identity]));
            var faces = new Table().AddColumns("face", "image", "quality", "fixed", "photo");
            foreach (var f in view.Faces)
            {
                var image = photos.GetValueOrDefault(f.FaceId);
                faces.AddRow(Id(f.FaceId), Id(f.ImageId), f.Quality is { } q ? q.ToString("0", CultureInfo.InvariantCulture) : "–", f.Locked ? "yes" : "",
                    Markup.Escape(image?.Provenance.SourceUrl ?? image?.Provenance.OriginalPath ?? ""));
            }

            AnsiConsole.MarkupLineInterpolated($"{view.Faces.Count} face(s), best quality first:");
            AnsiConsole.Write(faces);
            var timeline = new Table().AddColumns("captured", "seen", "collection", "face", "image", "source", "page");
            foreach (var t in view.Timeline)
            {
                timeline.AddRow(Time(t.CapturedAt), Time(t.SeenAt), Markup.Escape(t.Collection), Id(t.FaceId), Id(t.ImageId), Markup.Escape(t.SourceUrl ?? ""), Markup.Escape(t.PageUrl ?? ""));
            }

            AnsiConsole.MarkupLineInterpolated($"Timeline, {view.Timeline.Count} sighting(s) by capture date (unknown last):");
            AnsiConsole.Write(timeline);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Associates()
    {
        var id = new Argument<long>("id") { Description = "The identity" };
        var hops = new Option<int>("--hops") { Description = $"How far: 1 (seen with it) or {NetworkGate.MaxHops} (seen with one of those)", DefaultValueFactory = _ => 1 };
        var command = Query("associates", "Identities seen with an identity (same photo, same page), within a hop limit, with the edges' counts", id, hops);
        command.SetAction((parse, ct) => RunQueryAsync(parse, ct, () => RequireHops(parse.GetValue(hops), NetworkGate.MaxHops, "--hops"), async (engine, query) =>
        {
            var (associates, graph) = await engine.Network.AssociatesAsync(query, parse.GetValue(id), parse.GetValue(hops), ct);
            var identities = graph.Identities.ToDictionary(i => i.Id);
            if (IsJson(parse))
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    identity = Dto(identities[parse.GetValue(id)]),
                    hops = parse.GetValue(hops),
                    associates = associates.Select(a => new
                    {
                        identity = Dto(identities[a.IdentityId]),
                        a.Hops,
                        a.Via,
                        a.Edge.Photos,
                        a.Edge.Pages,
                        a.Edge.Weight,
                    }),
                    graph = GraphDto(graph),
                }, SearchCommands.Json));
                return ExitCodes.Ok;
            }

            var table = new Table().AddColumns("identity", "label", "faces", "hops", "via", "photos together", "pages together", "weight");
            foreach (var a in associates)
            {
                var identity = identities[a.IdentityId];
                table.AddRow(Id(a.IdentityId), Markup.Escape(NetworkExport.Label(identity)), Int(identity.Faces), Int(a.Hops), Id(a.Via), Int(a.Edge.Photos), Int(a.Edge.Pages),
                    a.Edge.Weight.ToString("0.#", CultureInfo.InvariantCulture));
            }

            AnsiConsole.MarkupLineInterpolated($"{associates.Count} associate(s) of {NetworkExport.Label(identities[parse.GetValue(id)])} within {parse.GetValue(hops)} hop(s):");
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine("[grey]See the evidence of a link with `lineup network edge A B`.[/]");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command PathCommand()
    {
        var from = new Argument<long>("from") { Description = "The first identity" };
        var to = new Argument<long>("to") { Description = "The second identity" };
        var maxHops = new Option<int>("--max-hops") { Description = $"The longest path looked for (1 to {NetworkGate.MaxPathHops})", DefaultValueFactory = _ => NetworkGate.MaxPathHops };
        var command = Query("path", "The shortest evidenced path between two identities (fewest hops, then the strongest)", from, to, maxHops);
        command.SetAction((parse, ct) => RunQueryAsync(parse, ct, () => RequireHops(parse.GetValue(maxHops), NetworkGate.MaxPathHops, "--max-hops"), async (engine, query) =>
        {
            var path = await engine.Network.PathAsync(query, parse.GetValue(from), parse.GetValue(to), parse.GetValue(maxHops), ct);
            if (IsJson(parse))
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    found = path is not null,
                    identities = path?.Identities.Select(Dto) ?? [],
                    edges = path?.Edges.Select(EdgeDto) ?? [],
                }, SearchCommands.Json));
                return ExitCodes.Ok;
            }

            if (path is null)
            {
                AnsiConsole.MarkupLineInterpolated($"[yellow]No path within {parse.GetValue(maxHops)} hop(s) between identities {parse.GetValue(from)} and {parse.GetValue(to)}.[/]");
                return ExitCodes.Ok;
            }

            var table = new Table().AddColumns("step", "from", "to", "photos together", "pages together", "evidence photos");
            for (var i = 0; i < path.Edges.Count; i++)
            {
                var edge = path.Edges[i];
                table.AddRow(Int(i + 1), Markup.Escape(NetworkExport.Label(path.Identities[i])), Markup.Escape(NetworkExport.Label(path.Identities[i + 1])),
                    Int(edge.Photos), Int(edge.Pages), string.Join(", ", edge.Evidence.Select(e => Id(e.ImageId)).Distinct()));
            }

            AnsiConsole.MarkupLineInterpolated($"A path of {path.Edges.Count} hop(s):");
            AnsiConsole.Write(table);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Edge()
    {
        var a = new Argument<long>("a") { Description = "One identity" };
        var b = new Argument<long>("b") { Description = "The other" };
        var command = Query("edge", "The evidence that two identities were seen together: the photos of both, the pages of each", a, b);
        command.SetAction((parse, ct) => RunQueryAsync(parse, ct, null, async (engine, query) =>
        {
            var (edge, first, second) = await engine.Network.EdgeAsync(query, parse.GetValue(a), parse.GetValue(b), ct);
            if (edge is null)
            {
                return GlobalOptions.Fail(ExitCodes.NotFound, $"Identities {first.Id} and {second.Id} were never seen together.");
            }

            var images = new Dictionary<long, ImageRecord?>();
            foreach (var imageId in edge.Evidence.SelectMany(e => new[] { e.ImageId, e.OtherImageId }).Distinct())
            {
                images[imageId] = await engine.Catalog.GetImageAsync(imageId, ct);
            }

            if (IsJson(parse))
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    a = Dto(first),
                    b = Dto(second),
                    edge.Photos,
                    edge.Pages,
                    edge.Weight,
                    evidence = edge.Evidence.Select(e => new
                    {
                        kind = e.Kind == CoAppearanceKind.Photo ? "photo" : "page",
                        e.ImageId,
                        e.OtherImageId,
                        e.FaceId,
                        e.OtherFaceId,
                        e.PageUrl,
                        e.CapturedAt,
                        image = PhotoDto(images[e.ImageId]),
                        otherImage = PhotoDto(images[e.OtherImageId]),
                    }),
                }, SearchCommands.Json));
                return ExitCodes.Ok;
            }

            AnsiConsole.MarkupLineInterpolated(
                $"{NetworkExport.Label(first)} and {NetworkExport.Label(second)}: {edge.Photos} photo(s) together, {edge.Pages} page(s) with a photo of each (weight {edge.Weight:0.#}).");
            var table = new Table().AddColumns("kind", "image(s)", "faces", "photo(s)", "page", "captured");
            foreach (var e in edge.Evidence)
            {
                var photo = e.Kind == CoAppearanceKind.Photo;
                table.AddRow(
                    photo ? "photo" : "page",
                    photo ? Id(e.ImageId) : $"{Id(e.ImageId)} + {Id(e.OtherImageId)}",
                    $"{Id(e.FaceId)}, {Id(e.OtherFaceId)}",
                    Markup.Escape(photo ? PhotoOf(images[e.ImageId]) : $"{PhotoOf(images[e.ImageId])} + {PhotoOf(images[e.OtherImageId])}"),
                    Markup.Escape(e.PageUrl ?? ""),
                    Time(e.CapturedAt));
            }

            AnsiConsole.Write(table);
            if (edge.Evidence.Count < edge.Photos + edge.Pages)
            {
                AnsiConsole.MarkupLineInterpolated($"[grey]{edge.Evidence.Count} of {edge.Photos + edge.Pages} pieces of evidence shown (Lineup:Network:EvidenceLimit per kind).[/]");
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Communities()
    {
        var command = Query("communities", "Groups of identities seen together more than with others (label propagation over the co-appearance graph)");
        command.SetAction((parse, ct) => RunQueryAsync(parse, ct, null, async (engine, query) =>
        {
            var (communities, graph) = await engine.Network.CommunitiesAsync(query, ct);
            var identities = graph.Identities.ToDictionary(i => i.Id);
            if (IsJson(parse))
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    communities = communities.Select(c => new { identities = c.Where(identities.ContainsKey).Select(i => Dto(identities[i])) }),
                }, SearchCommands.Json));
                return ExitCodes.Ok;
            }

            var table = new Table().AddColumns("community", "identities", "members");
            for (var i = 0; i < communities.Count; i++)
            {
                var members = communities[i].Select(id => identities.TryGetValue(id, out var identity) ? NetworkExport.Label(identity) : Id(id));
                table.AddRow(Int(i + 1), Int(communities[i].Count), Markup.Escape(string.Join(", ", members)));
            }

            AnsiConsole.MarkupLineInterpolated($"{communities.Count} communit{(communities.Count == 1 ? "y" : "ies")} among {graph.Identities.Count} identities seen with another:");
            AnsiConsole.Write(table);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Export()
    {
        var format = new Option<string>("--format") { Description = "graphml or gexf (both open in Gephi)", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "The file to write", Required = true };
        var identity = new Option<long?>("--identity") { Description = "Only this identity's neighbourhood (default: the whole co-appearance graph)" };
        var hops = new Option<int>("--hops") { Description = $"With --identity: how far (1 to {NetworkGate.MaxHops})", DefaultValueFactory = _ => NetworkGate.MaxHops };
        var command = Query("export", "Write the co-appearance graph (or an identity's neighbourhood) as GraphML or GEXF; audited as an export", format, output, identity, hops);
        command.SetAction((parse, ct) => RunQueryAsync(parse, ct, () =>
        {
            _ = Format(parse.GetValue(format));
            RequireHops(parse.GetValue(hops), NetworkGate.MaxHops, "--hops");
            var directory = Path.GetDirectoryName(Path.GetFullPath(parse.GetValue(output)!));
            Require(Directory.Exists(directory), "--out", $"the folder {directory} does not exist");
        }, async (engine, query) =>
        {
            var kind = Format(parse.GetValue(format));
            var graph = await engine.Network.ExportAsync(query, parse.GetValue(identity), parse.GetValue(hops), kind, ct);
            var path = Path.GetFullPath(parse.GetValue(output)!);
            await using (var file = File.Create(path))
            {
                if (kind == "graphml")
                {
                    NetworkExport.WriteGraphMl(graph, file);
                }
                else
                {
                    NetworkExport.WriteGexf(graph, file);
                }
            }

            AnsiConsole.MarkupLineInterpolated($"Wrote {graph.Identities.Count} identities and {graph.Edges.Count} edges ({kind}) to {path}.");
            return ExitCodes.Ok;
        }));
        return command;

        static string Format(string? text) => text?.Trim().ToLowerInvariant() switch
        {
            "graphml" => "graphml",
            "gexf" => "gexf",
            _ => throw new ArgumentException($"--format: '{text}' is not graphml or gexf."),
        };
    }

    // ---- Corrections (a user, a case; stored and respected by every later clustering) ---------------------------

    private static Command Merge()
    {
        var into = new Argument<long>("into") { Description = "The identity that stays" };
        var from = new Argument<long>("from") { Description = "The identity merged into it (removed)" };
        var reason = Reason();
        var command = Query("merge", "Two identities are one person: every face of FROM joins INTO, fixed there", into, from, reason);
        command.SetAction((parse, ct) => RunQueryAsync(parse, ct, null, async (engine, query) =>
            Corrected(parse, "merged", await engine.Network.MergeAsync(query, parse.GetValue(into), parse.GetValue(from), parse.GetValue(reason), ct))));
        return command;
    }

    private static Command Split()
    {
        var id = new Argument<long>("id") { Description = "The identity" };
        var faces = new Option<string>("--faces") { Description = "Comma-separated face ids to split off into a new identity", Required = true };
        var reason = Reason();
        var command = Query("split", "Some faces of an identity are another person: they become a new identity, both fixed", id, faces, reason);
        command.SetAction((parse, ct) => RunQueryAsync(parse, ct, () => ParseFaces(parse.GetValue(faces)), async (engine, query) =>
            Corrected(parse, "split off as", await engine.Network.SplitAsync(query, parse.GetValue(id), ParseFaces(parse.GetValue(faces)), parse.GetValue(reason), ct))));
        return command;
    }

    private static Command Move()
    {
        var face = new Argument<long>("face") { Description = "The face" };
        var to = new Option<long>("--to") { Description = "The identity it belongs to", Required = true };
        var reason = Reason();
        var command = Query("move", "A face belongs to another identity: it moves there, fixed", face, to, reason);
        command.SetAction((parse, ct) => RunQueryAsync(parse, ct, null, async (engine, query) =>
            Corrected(parse, "moved to", await engine.Network.MoveFaceAsync(query, parse.GetValue(face), parse.GetValue(to), parse.GetValue(reason), ct))));
        return command;
    }

    private static Command Name()
    {
        var id = new Argument<long>("id") { Description = "The identity" };
        var name = new Argument<string>("name") { Description = "The name (an empty string clears it)" };
        var command = Query("name", "Name an identity (its faces are fixed to it)", id, name);
        command.SetAction((parse, ct) => RunQueryAsync(parse, ct, null, async (engine, query) =>
            Corrected(parse, "named", await engine.Network.NameAsync(query, parse.GetValue(id), parse.GetValue(name), ct))));
        return command;
    }

    private static int Corrected(ParseResult parse, string what, IdentityRecord identity)
    {
        if (IsJson(parse))
        {
            Console.WriteLine(JsonSerializer.Serialize(Dto(identity), SearchCommands.Json));
            return ExitCodes.Ok;
        }

        AnsiConsole.MarkupLineInterpolated($"{what} identity {identity.Id}:");
        AnsiConsole.Write(IdentityTable([identity]));
        return ExitCodes.Ok;
    }

    // ---- helpers ----------------------------------------------------------------------------------------------

    /// <summary>A command made by a user for a case, with <c>--case</c>, <c>--as</c> and <c>--json</c>.</summary>
    private static Command Query(string name, string description, params Symbol[] symbols)
    {
        var command = new Command(name, description);
        foreach (var symbol in symbols)
        {
            switch (symbol)
            {
                case Argument argument:
                    command.Arguments.Add(argument);
                    break;
                case Option option:
                    command.Options.Add(option);
                    break;
            }
        }

        command.Options.Add(s_case);
        command.Options.Add(s_as);
        command.Options.Add(s_json);
        return command;
    }

    private static bool IsJson(ParseResult parse) => parse.GetValue(s_json);

    /// <summary>Validates and opens the engine (GlobalOptions.RunAsync maps a refusal to exit 9 and an unknown identity or face to exit 3).</summary>
    private static Task<int> RunQueryAsync(ParseResult parse, CancellationToken ct, Action? validate, Func<LineupEngine, NetworkQuery, Task<int>> body) =>
        GlobalOptions.RunAsync(async () =>
        {
            validate?.Invoke();
            var options = GlobalOptions.Resolve(parse);
            await using var engine = await LineupEngine.OpenAsync(options, ErrorProgress(parse), ct);
            return await body(engine, new NetworkQuery(parse.GetValue(s_as)!, parse.GetValue(s_case)));
        });

    private static Option<bool> Json() => new("--json") { Description = "Print the result as JSON" };

    private static Option<string?> Reason() => new("--reason") { Description = "Why (stored with the correction and audited)" };

    /// <summary>Progress lines on standard error, so that standard output holds only the result (JSON stays parseable).</summary>
    internal static IProgress<string> ErrorProgress(ParseResult parse) =>
        parse.GetValue(GlobalOptions.Quiet) ? new SyncProgress<string>(_ => { }) : new SyncProgress<string>(line => Console.Error.WriteLine(line));

    internal static void Require(bool condition, string option, string message)
    {
        if (!condition)
        {
            throw new ArgumentException($"{option}: {message}.");
        }
    }

    private static void RequireHops(int hops, int max, string option) =>
        Require(hops >= 1 && hops <= max, option, string.Create(CultureInfo.InvariantCulture, $"{hops} is not between 1 and {max}"));

    /// <summary>"1,2, 3" → [1, 2, 3]; anything else names <c>--faces</c>.</summary>
    internal static IReadOnlyList<long> ParseFaces(string? text)
    {
        var parts = (text ?? "").Split(',', StringSplitOptions.TrimEntries);
        var faces = new List<long>(parts.Length);
        foreach (var part in parts)
        {
            if (!long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var face) || face < 1)
            {
                throw new ArgumentException($"--faces: '{text}' is not a comma-separated list of face ids (such as 12,15,40).");
            }

            faces.Add(face);
        }

        Require(faces.Distinct().Count() == faces.Count, "--faces", "a face is listed twice");
        return faces;
    }

    internal static object Dto(IdentityRecord identity) => new
    {
        identity.Id,
        identity.Name,
        label = NetworkExport.Label(identity),
        identity.Faces,
        identity.Images,
        identity.Locked,
        identity.CoverFaceId,
    };

    private static object EdgeDto(CoAppearanceEdge edge) => new { edge.A, edge.B, edge.Photos, edge.Pages, edge.Weight };

    private static object GraphDto(NetworkSubgraph graph) => new { nodes = graph.Identities.Select(Dto), edges = graph.Edges.Select(EdgeDto) };

    private static object? PhotoDto(ImageRecord? image) => image is null ? null : new
    {
        image.Provenance.OriginalPath,
        image.Provenance.SourceUrl,
        image.Provenance.PageUrl,
        image.Provenance.CapturedAt,
    };

    private static object RunDto(ClusteringRun run) => new
    {
        run.Full,
        run.Faces,
        run.LinkedFaces,
        run.FacesQueried,
        run.Edges,
        run.Change.Identities,
        run.Change.FacesMoved,
        run.Change.IdentitiesCreated,
        run.Change.IdentitiesRemoved,
        run.Change.Version,
        neighboursSeconds = run.Neighbours.TotalSeconds,
        clusteringSeconds = run.Clustering.TotalSeconds,
        writingSeconds = run.Writing.TotalSeconds,
        seconds = run.Elapsed.TotalSeconds,
    };

    internal static void PrintRun(ClusteringRun run)
    {
        var table = new Table().AddColumns("measure", "value");
        table.AddRow("run", run.Full ? "full (every face)" : "incremental (new faces)");
        table.AddRow("faces", Int(run.Faces));
        table.AddRow("linked faces (quality ≥ floor)", Int(run.LinkedFaces));
        table.AddRow("faces queried", Int(run.FacesQueried));
        table.AddRow("edges", Int(run.Edges));
        table.AddRow("[bold]identities[/]", Int(run.Change.Identities));
        table.AddRow("faces moved / identities created / removed", $"{Int(run.Change.FacesMoved)} / {Int(run.Change.IdentitiesCreated)} / {Int(run.Change.IdentitiesRemoved)}");
        table.AddRow("version", run.Change.Version.ToString(CultureInfo.InvariantCulture));
        table.AddRow("seconds: neighbours / clustering / writing / total", string.Create(CultureInfo.InvariantCulture,
            $"{run.Neighbours.TotalSeconds:0.00} / {run.Clustering.TotalSeconds:0.00} / {run.Writing.TotalSeconds:0.00} / {run.Elapsed.TotalSeconds:0.00}"));
        AnsiConsole.Write(table);
    }

    private static Table IdentityTable(IEnumerable<IdentityRecord> identities)
    {
        var table = new Table().AddColumns("identity", "label", "faces", "images", "fixed", "cover face");
        foreach (var i in identities)
        {
            table.AddRow(Id(i.Id), Markup.Escape(NetworkExport.Label(i)), Int(i.Faces), Int(i.Images), i.Locked ? "yes" : "", i.CoverFaceId is { } c ? Id(c) : "–");
        }

        return table;
    }

    private static string PhotoOf(ImageRecord? image) => image?.Provenance.SourceUrl ?? image?.Provenance.OriginalPath ?? "";

    private static string? Domain(string? url) => Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" ? uri.Host : null;

    private static string Id(long id) => id.ToString(CultureInfo.InvariantCulture);

    private static string Int(int value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string Time(DateTimeOffset? at) => at is { } t ? t.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) : "–";

    /// <summary>Reports on the calling thread, in order (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
