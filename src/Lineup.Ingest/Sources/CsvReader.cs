using System.Text;

namespace Lineup.Ingest.Sources;

/// <summary>
/// One CSV record: its fields, or why it could not be read. <see cref="Line"/> is the 1-based line on which the
/// record starts (a quoted field may span lines).
/// </summary>
public readonly record struct CsvRecord(int Line, IReadOnlyList<string> Fields, string? Error = null)
{
    /// <summary>An empty line: no text at all, or a lone empty quoted field.</summary>
    public bool IsBlank => Error is null && Fields.Count == 1 && Fields[0].Length == 0;
}

/// <summary>
/// A small RFC 4180 reader: comma-separated, double-quoted fields with "" escapes and embedded newlines.
/// <see cref="ReadRecords"/> streams records with their line numbers and survives a malformed one;
/// <see cref="ReadFile"/> maps rows to the header's names and stops at the first error, naming file and line.
/// </summary>
public static class CsvReader
{
    /// <summary>Longest record read, in characters; a longer one is an error and reading resumes after it.</summary>
    public const int DefaultMaxRecordChars = 1024 * 1024;

    /// <summary>
    /// The first non-blank record is the header; rows are returned as name → value maps (names compared
    /// case-insensitively; missing trailing fields are empty). A malformed row (an unterminated quote, a row
    /// with more fields than the header) throws <see cref="InvalidDataException"/> naming the file and line.
    /// </summary>
    public static IEnumerable<IReadOnlyDictionary<string, string>> ReadFile(string path)
    {
        using var reader = new StreamReader(path, Encoding.UTF8);
        IReadOnlyList<string>? header = null;
        foreach (var record in ReadRecords(reader))
        {
            if (record.Error is not null)
            {
                throw new InvalidDataException($"{path}:{record.Line}: {record.Error}");
            }

            if (record.IsBlank)
            {
                continue;
            }

            if (header is null)
            {
                header = record.Fields;
                continue;
            }

            if (record.Fields.Count > header.Count)
            {
                throw new InvalidDataException($"{path}:{record.Line}: {record.Fields.Count} fields but the header has {header.Count}.");
            }

            var row = new Dictionary<string, string>(header.Count, StringComparer.OrdinalIgnoreCase);
            for (var i = 0; i < header.Count; i++)
            {
                row[header[i]] = i < record.Fields.Count ? record.Fields[i] : "";
            }

            yield return row;
        }

        if (header is null)
        {
            throw new InvalidDataException($"{path}: empty file, expected a header row.");
        }
    }

    /// <summary>
    /// Every record of <paramref name="reader"/>, blank ones included, streaming: memory is bounded by
    /// <paramref name="maxRecordChars"/> whatever the input's size. A quoted field that is never closed
    /// (detected at the end of input, or when the record grows past the limit) yields an error record at the
    /// line where it started, and reading resumes on the next line, so one stray quote costs one record.
    /// </summary>
    public static IEnumerable<CsvRecord> ReadRecords(TextReader reader, int maxRecordChars = DefaultMaxRecordChars)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRecordChars, 1);
        var input = new CharInput(reader);
        var fields = new List<string>();
        var field = new StringBuilder();

        // The record's text as read, kept only so that a runaway quoted field can be undone line by line.
        var raw = new StringBuilder();
        var line = 1;
        while (true)
        {
            var start = line;
            fields.Clear();
            field.Clear();
            raw.Clear();
            var quoted = false;
            var any = false;
            string? error = null;
            while (error is null)
            {
                var c = input.Read();
                if (c == -1)
                {
                    if (quoted)
                    {
                        error = "a quoted field is not closed.";
                        break;
                    }

                    if (any)
                    {
                        fields.Add(field.ToString());
                        yield return new CsvRecord(start, fields.ToArray());
                    }

                    yield break;
                }

                var ch = (char)c;
                any = true;
                raw.Append(ch);
                if (ch == '\n')
                {
                    line++;
                }

                if (raw.Length > maxRecordChars)
                {
                    error = $"the record is longer than {maxRecordChars:N0} characters{(quoted ? " (a quoted field is not closed?)" : "")}.";
                    break;
                }

                if (quoted)
                {
                    if (ch != '"')
                    {
                        field.Append(ch);
                    }
                    else if (input.Peek() == '"')
                    {
                        raw.Append((char)input.Read());
                        field.Append('"');
                    }
                    else
                    {
                        quoted = false;
                    }

                    continue;
                }

                switch (ch)
                {
                    case '"' when field.Length == 0:
                        quoted = true;
                        break;
                    case ',':
                        fields.Add(field.ToString());
                        field.Clear();
                        break;
                    case '\r':
                        break;
                    case '\n':
                        fields.Add(field.ToString());
                        yield return new CsvRecord(start, fields.ToArray());
                        fields.Clear();
                        field.Clear();
                        raw.Clear();
                        any = false;
                        start = line;
                        break;
                    default:
                        field.Append(ch);
                        break;
                }
            }

            yield return new CsvRecord(start, [], error);
            line = Resync(input, raw, start);
        }
    }

    /// <summary>
    /// After a malformed record, resumes on the line after the one it started on: the text read past that line
    /// is put back, or, when the record never left its first line, the rest of that line is skipped.
    /// </summary>
    private static int Resync(CharInput input, StringBuilder raw, int start)
    {
        var text = raw.ToString();
        var newline = text.IndexOf('\n');
        if (newline >= 0)
        {
            input.Unread(text[(newline + 1)..]);
            return start + 1;
        }

        int c;
        while ((c = input.Read()) is not (-1 or '\n'))
        {
        }

        return start + 1;
    }

    /// <summary>Characters from a reader, with text put back in front of what is left.</summary>
    private sealed class CharInput(TextReader reader)
    {
        private string _back = "";
        private int _backAt;

        public int Read() => _backAt < _back.Length ? _back[_backAt++] : reader.Read();

        public int Peek() => _backAt < _back.Length ? _back[_backAt] : reader.Peek();

        public void Unread(string text)
        {
            _back = text + _back[_backAt..];
            _backAt = 0;
        }
    }
}
