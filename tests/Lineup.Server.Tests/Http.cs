using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Lineup.Server.Tests;

/// <summary>Requests and the assertions every answer of the API must satisfy.</summary>
internal static partial class Http
{
    /// <summary>A multipart form with one file and text fields, as the UI's fetch sends it.</summary>
    public static MultipartFormDataContent Form(
        string field, byte[] bytes, string contentType = "image/jpeg", string fileName = "probe.jpg", params (string Name, string Value)[] fields)
    {
        var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(bytes);
        file.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        form.Add(file, field, fileName);
        foreach (var (name, value) in fields)
        {
            form.Add(new StringContent(value), name);
        }

        return form;
    }

    /// <summary>The case every server test that searches uses (<see cref="LineupFactory.AssignToCaseAsync"/>).</summary>
    public const string TestCase = "T-SRV-1";

    /// <summary>A search form: the probe as <c>photo</c>, the test case, a field-photo attestation, and further fields.</summary>
    public static MultipartFormDataContent SearchForm(
        byte[] bytes, string contentType = "image/jpeg", string fileName = "probe.jpg", params (string Name, string Value)[] fields) =>
        Form("photo", bytes, contentType, fileName, [("case", TestCase), ("source", "field_photo"), .. fields]);

    /// <summary>A form with fields only (no file).</summary>
    public static MultipartFormDataContent Fields(params (string Name, string Value)[] fields)
    {
        var form = new MultipartFormDataContent();
        foreach (var (name, value) in fields)
        {
            form.Add(new StringContent(value), name);
        }

        return form;
    }

    public static HttpRequestMessage Post(string url, HttpContent? content = null) => new(HttpMethod.Post, url) { Content = content };

    public static HttpRequestMessage PostJson(string url, object body) => Post(url, JsonContent.Create(body));

    public static async Task<JsonElement> JsonAsync(HttpResponseMessage response, HttpStatusCode expected = HttpStatusCode.OK)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{Describe(response)}: expected {(int)expected}, got {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>
    /// Asserts an RFC 7807 answer: the status, <c>application/problem+json</c>, a body whose <c>status</c> is the HTTP
    /// status, a title, and nothing of the server's insides (no stack frame, no .NET type name).
    /// </summary>
    public static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, HttpStatusCode expected, string? title = null)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{Describe(response)}: expected {(int)expected}, got {(int)response.StatusCode}: {text}");
        Assert.True(response.Content.Headers.ContentType?.MediaType == "application/problem+json",
            $"{Describe(response)}: content type {response.Content.Headers.ContentType} ({text})");
        var problem = JsonDocument.Parse(text).RootElement.Clone();
        Assert.Equal((int)expected, problem.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("title").GetString()), text);
        if (title is not null)
        {
            Assert.Equal(title, problem.GetProperty("title").GetString());
        }

        AssertNoInternals(text);
        return problem;
    }

    /// <summary>The problem's detail, which must be there and say something.</summary>
    public static string Detail(JsonElement problem)
    {
        var detail = problem.TryGetProperty("detail", out var d) ? d.GetString() : null;
        Assert.False(string.IsNullOrWhiteSpace(detail), $"no detail in {problem}");
        return detail!;
    }

    public static void AssertNoInternals(string text)
    {
        Assert.DoesNotContain("   at ", text, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Microsoft.", text, StringComparison.Ordinal);
        Assert.False(ExceptionName().IsMatch(text), $"an exception type name in: {text}");
    }

    public static string Describe(HttpResponseMessage response) =>
        $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri?.PathAndQuery}";

    [GeneratedRegex(@"\b[A-Z]\w*Exception\b")]
    private static partial Regex ExceptionName();
}
