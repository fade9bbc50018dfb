using System.Text;

namespace Lineup.Ingest.Sources.Archives;

/// <summary>What a member's name makes of it: a candidate item, a member passed over, or a refusal.</summary>
internal enum EntryNameKind
{
    Candidate,
    Hidden,
    Unsafe,
}

internal readonly record struct EntryNameCheck(EntryNameKind Kind, string? Problem = null);

/// <summary>
/// Judges archive member names. Nothing is ever extracted to disk, but a name that would escape an
/// extraction folder is refused anyway: it marks a hostile or broken archive, and a name like that must not
/// reach a report or an export that someone later unpacks.
/// </summary>
internal static class EntryName
{
    public static EntryNameCheck Check(string name)
    {
        if (name.Length == 0)
        {
            return new(EntryNameKind.Unsafe, "empty name");
        }

        foreach (var c in name)
        {
            if (char.IsControl(c))
            {
                return new(EntryNameKind.Unsafe, "control character");
            }
        }

        if (name[0] is '/' or '\\')
        {
            return new(EntryNameKind.Unsafe, "absolute path");
        }

        if (name.Length >= 2 && char.IsAsciiLetter(name[0]) && name[1] == ':')
        {
            return new(EntryNameKind.Unsafe, "drive-letter path");
        }

        // Backslashes count as separators too: archives made on Windows use them, and an extractor there
        // would follow them.
        var hidden = false;
        var segments = 0;
        foreach (var segment in name.Split('/', '\\'))
        {
            if (segment == "..")
            {
                return new(EntryNameKind.Unsafe, "path traversal");
            }

            if (segment.Length == 0 || segment == ".")
            {
                continue;
            }

            segments++;
            hidden |= segment[0] == '.' || segment == "__MACOSX";
        }

        if (segments == 0)
        {
            return new(EntryNameKind.Unsafe, "empty name");
        }

        return new(hidden ? EntryNameKind.Hidden : EntryNameKind.Candidate);
    }

    /// <summary>The name as it may appear in item names and messages: control characters escaped.</summary>
    public static string Display(string name)
    {
        if (!name.Any(char.IsControl))
        {
            return name;
        }

        var text = new StringBuilder(name.Length + 8);
        foreach (var c in name)
        {
            if (char.IsControl(c))
            {
                text.Append($"\\u{(int)c:x4}");
            }
            else
            {
                text.Append(c);
            }
        }

        return text.ToString();
    }
}
