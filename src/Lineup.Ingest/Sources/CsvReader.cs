using System.Text;

namespace Lineup.Ingest.Sources;

/// <summary>
/// A small RFC 4180 reader: comma-separated, double-quoted fields with "" escapes and embedded newlines.
/// The first record is the header; rows are returned as name → value maps. A malformed row (an
/// unterminated quote, a row with more fields than the header) is an error naming the file and line.
/// </summary>
public static class CsvReader
{
    public static IEnumerable<IReadOnlyDictionary<string, string>> ReadFile(string path)
    {
        using var reader = new StreamReader(path, Encoding.UTF8);
        string[]? header = null;
        var line = 0;
        foreach (var (record, startLine) in Records(reader, path))
        {
            line = startLine;
            if (header is null)
            {
                header = record;
                continue;
            }

            if (record.Length == 1 && record[0].Length == 0)
            {
                continue;
            }

            if (record.Length > header.Length)
            {
                throw new InvalidDataException($"{path}:{line}: {record.Length} fields but the header has {header.Length}.");
            }

            var row = new Dictionary<string, string>(header.Length, StringComparer.OrdinalIgnoreCase);
            for (var i = 0; i < header.Length; i++)
            {
                row[header[i]] = i < record.Length ? record[i] : "";
            }

            yield return row;
        }

        if (header is null)
        {
            throw new InvalidDataException($"{path}: empty file, expected a header row.");
        }
    }

    private static IEnumerable<(string[] Record, int Line)> Records(TextReader reader, string path)
    {
        var fields = new List<string>();
        var field = new StringBuilder();
        var line = 1;
        var start = 1;
        var quoted = false;
        var any = false;
        int c;
        while ((c = reader.Read()) != -1)
        {
            any = true;
            var ch = (char)c;
            if (quoted)
            {
                if (ch == '"')
                {
                    if (reader.Peek() == '"')
                    {
                        field.Append('"');
                        reader.Read();
                    }
                    else
                    {
                        quoted = false;
                    }
                }
                else
                {
                    if (ch == '\n')
                    {
                        line++;
                    }

                    field.Append(ch);
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
                    field.Clear();
                    yield return (fields.ToArray(), start);
                    fields.Clear();
                    line++;
                    start = line;
                    any = false;
                    break;
                default:
                    field.Append(ch);
                    break;
            }
        }

        if (quoted)
        {
            throw new InvalidDataException($"{path}:{start}: a quoted field is not closed.");
        }

        if (any)
        {
            fields.Add(field.ToString());
            yield return (fields.ToArray(), start);
        }
    }
}
