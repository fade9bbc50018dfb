namespace Lineup.Cli;

/// <summary>Process exit codes; scripts rely on them (README lists them).</summary>
public static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>An unexpected error (a bug or an environment failure); the message says which.</summary>
    public const int Error = 1;

    /// <summary>The command line or an input is wrong: unknown option, missing file, not an image.</summary>
    public const int BadInput = 2;

    /// <summary>The probe photo has no usable face, or an id does not exist.</summary>
    public const int NotFound = 3;

    /// <summary>The face models are missing or fail verification.</summary>
    public const int Models = 4;

    /// <summary>A batch finished but some items were refused or failed (each is listed).</summary>
    public const int Partial = 5;

    /// <summary>Another process is ingesting into the same data directory.</summary>
    public const int Busy = 6;

    /// <summary>The probe face's quality is under the floor and no override reason was given (the refusal is recorded).</summary>
    public const int LowQuality = 7;

    /// <summary>The audit log failed verification: an event, checkpoint or signature was altered, or history was rewritten.</summary>
    public const int AuditFailed = 8;

    /// <summary>Oversight refused the action: a search without an open, authorised case the user is assigned to, an expired
    /// clearance or a refused probe source (recorded and audited), or a review or export the two-person rule forbids.</summary>
    public const int Refused = 9;
}
