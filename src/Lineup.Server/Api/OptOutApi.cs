using System.Globalization;
using Lineup.Core.Oversight;
using Lineup.Hosting;
using Lineup.Server.Security;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Lineup.Server.Api;

/// <summary>
/// The opt-out registry (admin, <see cref="Permissions.OptOut"/>): a request with photos of the person is recorded as the
/// embeddings of their faces (the photos are not kept), every matching gallery face is erased with a receipt in the audit
/// log, and from then on matching faces are not stored at ingest and never returned by search. No answer ever carries an
/// embedding.
/// </summary>
public static class OptOutApi
{
    /// <summary>The form field the photos are sent in, once per photo.</summary>
    public const string PhotosField = "photos";

    public static RouteGroupBuilder MapOptOutApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api").WithTags("Opt-out").RequireAuthorization(Permissions.OptOut);

        group.MapGet("/optouts", async (LineupEngine engine, CancellationToken ct) =>
        {
            var requests = await engine.OptOuts.ListOptOutsAsync(ct).ConfigureAwait(false);
            return TypedResults.Ok(new OptOutRegistryDto(engine.OptOutThreshold, engine.OptOutThresholdFmr, engine.Threshold, requests.Select(OptOutDto.From).ToList()));
        })
            .WithName("ListOptOuts")
            .WithSummary("The opt-out requests, newest first, and the similarity at which a face counts as a requester's");

        group.MapGet("/optouts/{id:long}", async Task<Results<Ok<OptOutDto>, ProblemHttpResult>> (long id, LineupEngine engine, CancellationToken ct) =>
            await engine.OptOuts.GetOptOutAsync(id, ct).ConfigureAwait(false) is { } found
                ? TypedResults.Ok(OptOutDto.From(found))
                : Problems.NotFound(string.Create(CultureInfo.InvariantCulture, $"There is no opt-out request {id}.")))
            .WithName("GetOptOut")
            .WithSummary("One opt-out request");

        group.MapPost("/optouts", RecordAsync)
            .Accepts<OptOutForm>("multipart/form-data")
            .Produces<OptOutRecordedDto>(StatusCodes.Status201Created)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .WithName("RecordOptOut")
            .WithSummary("Record an opt-out request from photos of the person: their gallery faces are erased, and matching faces are never stored or returned again");

        return group;
    }

    private static async Task<IResult> RecordAsync(HttpContext context, LineupEngine engine, IOptions<ServerOptions> options)
    {
        var ct = context.RequestAborted;
        var perPhoto = options.Value.MaxProbeBytes;

        // Every photo may use the whole per-photo budget; the text fields are small (the form reader bounds them).
        var form = await Forms.ReadAsync(context.Request, (NewOptOut.MaxEmbeddings * perPhoto) + (64 << 10), ct).ConfigureAwait(false);
        var reference = Forms.Text(form, "reference")
            ?? throw new ApiInputException(StatusCodes.Status400BadRequest, "The request is not valid", "The request's reference (e.g. its ticket number) is required.");
        var files = form.Files.GetFiles(PhotosField);
        if (files.Count is 0 or > NewOptOut.MaxEmbeddings)
        {
            throw new ApiInputException(StatusCodes.Status400BadRequest, "The request is not valid",
                $"Send 1 to {NewOptOut.MaxEmbeddings} photos of the person in the form field '{PhotosField}', not {files.Count}.");
        }

        var photos = new List<OptOutPhoto>(files.Count);
        foreach (var file in files)
        {
            if (file.Length > perPhoto)
            {
                throw new ApiInputException(StatusCodes.Status413PayloadTooLarge, "Upload too large", string.Create(CultureInfo.InvariantCulture,
                    $"{Forms.DisplayName(file.FileName, PhotosField)} has {file.Length:N0} bytes; a photo may have at most {perPhoto:N0}."));
            }

            // The shared checks (declared type, empty, image signature) apply to each photo on its own.
            var (bytes, name) = await Forms.PhotoAsync(new FormCollection(null, new FormFileCollection { file }), file.Name, ct).ConfigureAwait(false);
            photos.Add(new OptOutPhoto(name, bytes));
        }

        OptOutResult result;
        try
        {
            result = await Task.Run(
                () => engine.RecordOptOutAsync(reference, Forms.Text(form, "note"), photos, LineupPrincipal.Name(context.User), null, ct), ct).ConfigureAwait(false);
        }
        catch (NoFaceException e)
        {
            throw new ApiInputException(StatusCodes.Status422UnprocessableEntity, "No face in the photos", e.Message);
        }

        return TypedResults.Created($"/api/optouts/{result.Request.Id}", OptOutRecordedDto.From(result));
    }

    /// <summary>The opt-out form, for the API description (the handler reads it within its byte budget).</summary>
    /// <param name="Reference">The request's reference, e.g. its ticket number (1–200 characters).</param>
    /// <param name="Note">An optional note for administrators (kept with the request, not in the audit log).</param>
    /// <param name="Photos">1 to 10 photos of the person, each in a field named <c>photos</c>; the most prominent face of each is used.</param>
    public sealed record OptOutForm(string Reference, string? Note, IFormFileCollection Photos);
}
