using System.ComponentModel.DataAnnotations;

namespace Lineup.Server;

/// <summary>The server's own settings (section <c>Lineup:Server</c>), validated at start.</summary>
public sealed class ServerOptions
{
    public const string Section = "Lineup:Server";

    /// <summary>Where Kestrel listens. Loopback by default: exposing it is a decision to take with TLS in front.</summary>
    [Required]
    public string Urls { get; set; } = "http://127.0.0.1:5080";

    /// <summary>Largest probe upload (search, verify), in bytes; a larger request is refused with 413 before it is read.</summary>
    [Range(1024, 1L << 31)]
    public long MaxProbeBytes { get; set; } = 20L << 20;

    /// <summary>Largest ingest upload (an archive, WARC file or manifest), in bytes.</summary>
    [Range(1024, 1L << 40)]
    public long MaxUploadBytes { get; set; } = 2L << 30;

    /// <summary>Searches (1:N and 1:1) each user may start per minute; further ones get 429 with Retry-After.</summary>
    [Range(1, 100_000)]
    public int SearchesPerMinute { get; set; } = 30;

    /// <summary>Sign-in attempts per client address per minute.</summary>
    [Range(1, 10_000)]
    public int SignInsPerMinute { get; set; } = 10;

    /// <summary>How long a UI sign-in lasts without activity (sliding).</summary>
    [Range(typeof(TimeSpan), "00:01:00", "7.00:00:00")]
    public TimeSpan SessionLifetime { get; set; } = TimeSpan.FromHours(8);

    /// <summary>
    /// Whether <c>GET /api/images/{id}/original</c> serves the operator's original file. Off by default: analysts see
    /// previews and face crops, and a copy of a whole gallery photo leaves the system only where an operator allows it.
    /// </summary>
    public bool ServeOriginals { get; set; }

    /// <summary>
    /// Minutes between the background clustering job's checks for faces not yet clustered into identities (it also checks
    /// at start and shortly after each ingest job); 0 turns the job off, for installations that cluster with
    /// <c>lineup network cluster</c> or <c>POST /api/network/cluster</c>. At most 45 days (<see cref="PeriodicTimer"/>'s limit).
    /// </summary>
    [Range(0, 60 * 24 * 45)]
    public int ClusteringMinutes { get; set; } = 10;

    /// <summary>
    /// Folders under which an admin may name a server-side path to ingest (<c>POST /api/ingest/paths</c>), besides
    /// <c>&lt;data&gt;/incoming</c>. A path outside all of them is refused, so the API cannot be used to read arbitrary files.
    /// </summary>
    public IList<string> IngestRoots { get; } = [];

    public void Validate()
    {
        Validator.ValidateObject(this, new ValidationContext(this), validateAllProperties: true);
        if (!Uri.TryCreate(Urls.Split(';')[0], UriKind.Absolute, out _))
        {
            throw new ValidationException($"Lineup:Server:Urls must be an absolute URL such as http://127.0.0.1:5080, not '{Urls}'.");
        }
    }
}
