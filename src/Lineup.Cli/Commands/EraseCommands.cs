using System.CommandLine;
using System.Globalization;
using Lineup.Core.Catalog;
using Lineup.Hosting;

namespace Lineup.Cli.Commands;

/// <summary>
/// <c>lineup erase</c>: erasure of a gallery image, a face, or a person found by a probe photo. Rows, pictures,
/// embeddings and index entries go; the database files are compacted and the index rebuilt, so that no byte of the
/// erased data stays in the data directory; the receipt goes into the audit log.
/// </summary>
public static class EraseCommands
{
    public static Command Build()
    {
        var erase = new Command("erase", "Erase a gallery image, a face, or a person found by a probe photo (receipt in the audit log)");
        erase.Subcommands.Add(Image());
        erase.Subcommands.Add(Face());
        erase.Subcommands.Add(Person());
        return erase;
    }

    /// <summary>Who erases, as the audit receipt records it: the operating-system user of the CLI.</summary>
    internal static string Actor => "cli:" + Environment.UserName;

    private static Command Image()
    {
        var id = new Argument<long>("id") { Description = "Image id (an image's near-duplicate copies and its original go with it)" };
        var command = new Command("image", "Erase an image with its copies, faces, thumbnails, preview and sightings") { id };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            await using var engine = await LineupEngine.OpenAsync(options, GlobalOptions.Progress(parse), ct);
            var erased = await engine.EraseImageAsync(parse.GetValue(id), Actor, ct);
            Print(erased.Receipt, erased.Elapsed);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Face()
    {
        var id = new Argument<long>("id") { Description = "Face id (its image and the image's other faces stay)" };
        var command = new Command("face", "Erase one face: its embedding, thumbnail and index entry") { id };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            await using var engine = await LineupEngine.OpenAsync(options, GlobalOptions.Progress(parse), ct);
            var erased = await engine.EraseFacesAsync([parse.GetValue(id)], Actor, ct);
            Print(erased.Receipt, erased.Elapsed);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Person()
    {
        var photo = new Argument<string>("photo") { Description = "A photo of the person (its most prominent face is used)" };
        var min = new Option<float?>("--min-similarity")
        {
            Description = "Erase gallery faces at or above this cosine similarity to the probe (default: the model's threshold)",
        };
        var yes = new Option<bool>("--yes") { Description = "Erase; without it, only list what would be erased" };
        var command = new Command("person", "Erase every gallery face of the person in a probe photo (lists them first; --yes erases)") { photo, min, yes };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            var bytes = await SearchCommands.ReadPhotoAsync(parse.GetValue(photo)!, options.Limits.MaxBytes, ct);
            await using var engine = await LineupEngine.OpenAsync(options, GlobalOptions.Progress(parse), ct);
            if (!parse.GetValue(yes))
            {
                var found = await engine.FindPersonAsync(bytes, parse.GetValue(min), ct);
                PrintMatches(found);
                Console.WriteLine(found.Matches.Count == 0
                    ? "Nothing to erase."
                    : $"Nothing was erased. Run again with --yes to erase these {found.Matches.Count} face(s).");
                return ExitCodes.Ok;
            }

            var erased = await engine.ErasePersonAsync(bytes, Actor, parse.GetValue(min), ct);
            PrintMatches(erased.Found);
            if (erased.Receipt is null)
            {
                Console.WriteLine("Nothing to erase.");
            }
            else
            {
                Print(erased.Receipt, erased.Elapsed);
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    private static void PrintMatches(PersonMatches found)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Probe face {found.ProbeFace} of {found.FacesInProbe}; {found.Compared:N0} gallery faces compared; {found.Matches.Count} at or above {found.MinSimilarity:0.000}:"));
        foreach (var match in found.Matches)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  face {match.FaceId} (image {match.ImageId})  similarity {match.Similarity:0.000}"));
        }
    }

    private static void Print(ErasureReceipt receipt, TimeSpan elapsed)
    {
        static string Ids(IReadOnlyList<long> ids) => ids.Count == 0 ? "none" : string.Join(", ", ids.Select(i => i.ToString(CultureInfo.InvariantCulture)));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Erased at {receipt.At:yyyy-MM-dd HH:mm:ss}Z in {elapsed.TotalSeconds:0.00} s:"));
        Console.WriteLine($"  images:    {Ids(receipt.Images)}");
        Console.WriteLine($"  faces:     {Ids(receipt.Faces)}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  sightings: {receipt.Sightings}"));
        Console.WriteLine(receipt.AuditSeq is { } seq
            ? string.Create(CultureInfo.InvariantCulture, $"  receipt:   audit event {seq}")
            : "  receipt:   (this catalog keeps no audit log)");
    }
}
