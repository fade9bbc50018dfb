namespace Lineup.Hosting;

/// <summary>
/// One ingest per data directory at a time: an exclusive lock on <c>ingest.lock</c>. On Linux and macOS
/// .NET takes an advisory <c>flock</c> for <see cref="FileShare.None"/>, which the kernel drops when the
/// process dies, so a run killed with <c>kill -9</c> never leaves a stale lock behind; whoever holds the
/// lock therefore knows that any run still recorded as running is dead.
/// </summary>
internal sealed class IngestLock : IDisposable
{
    private readonly FileStream _file;

    private IngestLock(FileStream file) => _file = file;

    public static IngestLock Acquire(string dataDirectory)
    {
        var path = Path.Combine(dataDirectory, "ingest.lock");
        try
        {
            var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
            return new IngestLock(file);
        }
        catch (IOException e)
        {
            throw new IngestBusyException(
                $"Another ingest is running on the data directory {dataDirectory} (it holds {path}). Wait for it to finish, " +
                "or stop it; an interrupted run resumes where it stopped.", e);
        }
    }

    /// <summary>The lock when it is free, else null (someone is ingesting).</summary>
    public static IngestLock? TryAcquire(string dataDirectory)
    {
        try
        {
            return Acquire(dataDirectory);
        }
        catch (IngestBusyException)
        {
            return null;
        }
    }

    public void Dispose() => _file.Dispose();
}

/// <summary>Another process is ingesting into the same data directory.</summary>
public sealed class IngestBusyException(string message, Exception? inner = null) : Exception(message, inner);
