using System.Globalization;
using Lineup.Core.Imaging;
using Microsoft.AspNetCore.Http.Features;

namespace Lineup.Server.Api;

/// <summary>A request whose input is wrong in a way the client can fix; mapped to a ProblemDetails with its status.</summary>
public sealed class ApiInputException(int status, string title, string detail) : Exception(detail)
{
    public int Status { get; } = status;

    public string Title { get; } = title;
}

/// <summary>
/// Reads multipart forms within a byte budget: the declared length is checked before a byte is read (413), the body
/// is cut off at the budget when it was not declared, and every file is checked by content, not by its claimed type.
/// </summary>
public static class Forms
{
    private static readonly string[] s_imageTypes = ["image/", "application/octet-stream"];

    public static async Task<IFormCollection> ReadAsync(HttpRequest request, long limit, CancellationToken ct)
    {
        if (!request.HasFormContentType)
        {
            throw new ApiInputException(StatusCodes.Status415UnsupportedMediaType, "Unsupported content type",
                $"Send the request as multipart/form-data, not '{request.ContentType ?? "no content type"}'.");
        }

        if (request.ContentLength > limit)
        {
            throw TooLarge(request.ContentLength.Value, limit);
        }

        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = limit;
        }

        request.HttpContext.Features.Set<IFormFeature>(new FormFeature(request, new FormOptions
        {
            MultipartBodyLengthLimit = limit,
            ValueCountLimit = 64,
            ValueLengthLimit = 16 * 1024,
            MultipartHeadersLengthLimit = 16 * 1024,
        }));
        try
        {
            return await request.ReadFormAsync(ct).ConfigureAwait(false);
        }
        catch (InvalidDataException e) when (e.Message.Contains("limit", StringComparison.OrdinalIgnoreCase))
        {
            throw TooLarge(null, limit);
        }
        catch (InvalidDataException e)
        {
            throw new ApiInputException(StatusCodes.Status400BadRequest, "Malformed form", $"The multipart body could not be read: {e.Message}");
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw TooLarge(null, limit);
        }
        catch (IOException e)
        {
            throw new ApiInputException(StatusCodes.Status400BadRequest, "Malformed form", $"The request body ended early: {e.Message}");
        }
    }

    /// <summary>The bytes of an uploaded photo: present, declared as an image (or untyped), and an image by its signature.</summary>
    public static async Task<(byte[] Bytes, string Name)> PhotoAsync(IFormCollection form, string field, CancellationToken ct)
    {
        var file = form.Files.GetFile(field)
            ?? throw new ApiInputException(StatusCodes.Status400BadRequest, "Missing photo", $"The form has no file field '{field}'.");
        var name = DisplayName(file.FileName, field);
        if (!string.IsNullOrEmpty(file.ContentType) && !s_imageTypes.Any(t => file.ContentType.StartsWith(t, StringComparison.OrdinalIgnoreCase)))
        {
            throw new ApiInputException(StatusCodes.Status415UnsupportedMediaType, "Not an image",
                $"{name} is declared as '{file.ContentType}'; send a JPEG, PNG, WebP, GIF or BMP photo.");
        }

        if (file.Length == 0)
        {
            throw new ApiInputException(StatusCodes.Status400BadRequest, "Empty photo", $"{name} is empty.");
        }

        var bytes = new byte[file.Length];
        await using (var stream = file.OpenReadStream())
        {
            await stream.ReadExactlyAsync(bytes, ct).ConfigureAwait(false);
        }

        if (ImageSignatures.Sniff(bytes) == ImageFormat.Unknown)
        {
            throw new ApiInputException(StatusCodes.Status415UnsupportedMediaType, "Not an image",
                $"{name} is not a JPEG, PNG, WebP, GIF or BMP image (its first bytes match none of them).");
        }

        return (bytes, name);
    }

    public static int? Int(IFormCollection form, string field, int min, int max)
    {
        var text = Text(form, field);
        if (text is null)
        {
            return null;
        }

        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw new ApiInputException(StatusCodes.Status400BadRequest, "The request is not valid", $"{field}: '{text}' is not a whole number from {min} to {max}.");
    }

    public static string? Text(IFormCollection form, string field) =>
        form.TryGetValue(field, out var values) && values.Count > 0 && !string.IsNullOrWhiteSpace(values[0]) ? values[0]!.Trim() : null;

    /// <summary>An upload's file name for messages only: no path, no control characters, bounded length.</summary>
    public static string DisplayName(string? fileName, string field)
    {
        var name = Path.GetFileName(fileName ?? "");
        name = new string(name.Where(c => !char.IsControl(c)).Take(120).ToArray());
        return string.IsNullOrWhiteSpace(name) ? $"the uploaded '{field}'" : name;
    }

    private static ApiInputException TooLarge(long? declared, long limit) =>
        new(StatusCodes.Status413PayloadTooLarge, "Upload too large", declared is { } d
            ? string.Create(CultureInfo.InvariantCulture, $"The request declares {d:N0} bytes; the limit for this endpoint is {limit:N0} bytes.")
            : string.Create(CultureInfo.InvariantCulture, $"The request is larger than this endpoint's limit of {limit:N0} bytes."));
}
