using System.Globalization;
using Lineup.Core.Audit;
using Lineup.Hosting;
using Lineup.Server.Jobs;
using Lineup.Server.Security;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Lineup.Server.Api;

/// <summary>Ingest through the API: upload a source or name one on the server; the work runs as a background job.</summary>
public static class IngestApi
{
    public static RouteGroupBuilder MapIngestApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/ingest").WithTags("Ingest").RequireAuthorization(Permissions.Admin);

        group.MapPost("/uploads", UploadAsync)
            .Accepts<UploadForm>("multipart/form-data")
            .Produces<IngestJobDto>(StatusCodes.Status202Accepted)
            .WithName("IngestUpload")
            .WithSummary("Upload a zip/tar(.gz) archive, a WARC(.gz) file or a CSV/JSON Lines manifest and ingest it in the background");

        group.MapPost("/paths", IngestPathAsync)
            .WithName("IngestPath")
            .WithSummary("Ingest a folder or file on the server, under Lineup:Server:IngestRoots or <data>/incoming");

        group.MapGet("/jobs", (IngestJobs jobs) => TypedResults.Ok(jobs.List().Select(j => j.Snapshot()).ToList()))
            .WithName("ListIngestJobs")
            .WithSummary("Ingest jobs of this server process, newest first");

        group.MapGet("/jobs/{id:long}", Results<Ok<IngestJobDto>, ProblemHttpResult> (long id, IngestJobs jobs) =>
            jobs.Find(id) is { } job ? TypedResults.Ok(job.Snapshot()) : Problems.NotFound($"There is no ingest job {id}."))
            .WithName("GetIngestJob")
            .WithSummary("One job's progress: items processed of the total, faces, refusals and failures, items per second");

        return group;
    }

    private static async Task<Results<Accepted<IngestJobDto>, ProblemHttpResult>> UploadAsync(
        HttpContext context, IngestJobs jobs, IOptions<ServerOptions> options)
    {
        var ct = context.RequestAborted;
        var form = await Forms.ReadAsync(context.Request, options.Value.MaxUploadBytes, ct).ConfigureAwait(false);
        var (collection, basis, jurisdiction) = Target(Forms.Text(form, "collection"), Forms.Text(form, "lawfulBasis"), Forms.Text(form, "jurisdiction"));
        var file = form.Files.GetFile("file")
            ?? throw new ApiInputException(StatusCodes.Status400BadRequest, "Missing file", "The form has no file field 'file'.");
        if (file.Length == 0)
        {
            throw new ApiInputException(StatusCodes.Status400BadRequest, "Empty file", "The uploaded file is empty.");
        }

        var name = Forms.DisplayName(file.FileName, "file");
        // Only the extension of the client's name is kept (manifests are told by it); the rest is ours, so no
        // client-supplied name reaches the file system.
        var extension = SafeExtension(file.FileName);
        var folder = Path.Combine(jobs.UploadsDirectory, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, "upload" + extension);
        try
        {
            await using (var target = File.Create(path))
            {
                await file.CopyToAsync(target, ct).ConfigureAwait(false);
            }

            var job = jobs.Enqueue(path, name, collection, basis, jurisdiction, LineupPrincipal.Name(context.User), deleteWhenDone: true);
            await AuditStartAsync(context, job, ct).ConfigureAwait(false);
            return TypedResults.Accepted($"/api/ingest/jobs/{job.Id.ToString(CultureInfo.InvariantCulture)}", job.Snapshot());
        }
        catch
        {
            // Refused or failed before queueing: nothing of the upload stays behind.
            Directory.Delete(folder, recursive: true);
            throw;
        }
    }

    private static async Task<Results<Accepted<IngestJobDto>, ProblemHttpResult>> IngestPathAsync(
        IngestPathRequest request, HttpContext context, IngestJobs jobs, LineupEngine engine, IOptions<ServerOptions> options)
    {
        var (collection, basis, jurisdiction) = Target(request.Collection, request.LawfulBasis, request.Jurisdiction);
        if (string.IsNullOrWhiteSpace(request.Path))
        {
            return Problems.BadRequest("Give the path of a folder or file on the server.");
        }

        // Links are resolved on both sides: a link inside a root that points outside it is outside it.
        string full;
        try
        {
            full = WithoutLinks(Path.GetFullPath(request.Path));
        }
        catch (IOException e)
        {
            return Problems.Of(StatusCodes.Status403Forbidden, "Path not allowed", $"{request.Path} cannot be resolved ({e.Message}).");
        }

        var roots = options.Value.IngestRoots.Select(Path.GetFullPath).Append(Path.Combine(engine.Options.FullDataDirectory, "incoming"))
            .Select(WithoutLinks).ToList();
        if (!roots.Any(root => IsUnder(full, root)))
        {
            return Problems.Of(StatusCodes.Status403Forbidden, "Path not allowed",
                $"{request.Path} is not under an allowed ingest root ({string.Join(", ", roots)}); an operator adds roots in Lineup:Server:IngestRoots.");
        }

        if (!File.Exists(full) && !Directory.Exists(full))
        {
            return Problems.NotFound($"{request.Path}: no such file or folder on the server.");
        }

        var job = jobs.Enqueue(full, request.Path, collection, basis, jurisdiction, LineupPrincipal.Name(context.User), deleteWhenDone: false);
        await AuditStartAsync(context, job, context.RequestAborted).ConfigureAwait(false);
        return TypedResults.Accepted($"/api/ingest/jobs/{job.Id.ToString(CultureInfo.InvariantCulture)}", job.Snapshot());
    }

    /// <summary>Starting an ingest is an administrative action: who added which source to which collection.</summary>
    private static async Task AuditStartAsync(HttpContext context, IngestJob job, CancellationToken ct)
    {
        var engine = context.RequestServices.GetRequiredService<LineupEngine>();
        var source = job.Snapshot().Source;
        await engine.Audit.AppendAsync(new NewAuditEvent(
            LineupPrincipal.Name(context.User), AuditActions.Admin, $"ingest-job:{job.Id.ToString(CultureInfo.InvariantCulture)}",
            AuditDetails.Empty.With("change", "ingest.start").With("collection", job.Snapshot().Collection)
                .With("source", source.Length <= AuditDetails.MaxTextLength ? source : source[^AuditDetails.MaxTextLength..])), ct).ConfigureAwait(false);
    }

    private static (string Collection, string LawfulBasis, string? Jurisdiction) Target(string? collection, string? basis, string? jurisdiction)
    {
        if (string.IsNullOrWhiteSpace(collection) || string.IsNullOrWhiteSpace(basis))
        {
            throw new ApiInputException(StatusCodes.Status400BadRequest, "The request is not valid",
                "Name the collection and its lawful basis (collection, lawfulBasis); every gallery image must have both.");
        }

        return (collection.Trim(), basis.Trim(), string.IsNullOrWhiteSpace(jurisdiction) ? null : jurisdiction.Trim());
    }

    /// <summary>The path with every symbolic link along it replaced by its final target (what <c>realpath</c> gives).</summary>
    private static string WithoutLinks(string path)
    {
        var resolved = Path.GetPathRoot(path) ?? "/";
        var parts = path[resolved.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < parts.Length; i++)
        {
            var next = Path.Combine(resolved, parts[i]);
            FileSystemInfo info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            if (info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is { } target)
            {
                // The target may itself lie under links: resolve it whole, then go on from there.
                next = target.FullName == next ? next : WithoutLinks(target.FullName);
            }

            resolved = next;
        }

        return resolved;
    }

    private static bool IsUnder(string path, string root)
    {
        var withSeparator = root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar;
        return path.StartsWith(withSeparator, StringComparison.Ordinal) || path == root;
    }

    private static string SafeExtension(string? fileName)
    {
        var name = Path.GetFileName(fileName ?? "").ToLowerInvariant();
        foreach (var known in new[] { ".warc.gz", ".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst", ".tgz", ".warc", ".zip", ".tar", ".csv", ".jsonl", ".ndjson", ".gz" })
        {
            if (name.EndsWith(known, StringComparison.Ordinal))
            {
                return known;
            }
        }

        return ".bin";
    }

    /// <param name="File">The source: a zip or tar archive (optionally compressed), a WARC file, or a .csv/.jsonl manifest.</param>
    /// <param name="Collection">The collection to ingest into (created when missing).</param>
    /// <param name="LawfulBasis">The lawful basis for processing the collection's photos.</param>
    /// <param name="Jurisdiction">ISO 3166 code of the collection's jurisdiction.</param>
    public sealed record UploadForm(IFormFile File, string Collection, string LawfulBasis, string? Jurisdiction);
}
