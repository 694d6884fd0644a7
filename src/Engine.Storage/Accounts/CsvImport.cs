namespace Engine.Storage.Accounts;

/// <summary>
/// Bulk import of users from a CSV file, as a campus account system exports one. Columns, with a header
/// line: <c>address,display_name,quota,password_hash</c> (quota in bytes, 0 for none; the hash in
/// "{SCHEME}..." form, or empty to create the account without a usable password). Fields may be quoted
/// with '"'. Domains that are missing are created. All of it is one transaction: a bad line imports nothing.
/// </summary>
public static class CsvImport
{
    public static int Import(SqlDirectory directory, TextReader csv)
    {
        var header = csv.ReadLine() ?? throw new DirectoryException("empty file");
        var columns = Split(header).Select(c => c.Trim().ToLowerInvariant()).ToArray();
        int Column(string name) => Array.IndexOf(columns, name) is >= 0 and var i ? i : throw new DirectoryException($"no '{name}' column");
        int address = Column("address"), name = Column("display_name"), quota = Column("quota"), hash = Column("password_hash");

        var rows = new List<(string Address, string Name, long Quota, string Hash)>();
        var lineNumber = 1;
        while (csv.ReadLine() is { } line)
        {
            lineNumber++;
            if (line.Trim().Length == 0)
                continue;
            var fields = Split(line);
            if (fields.Count != columns.Length)
                throw new DirectoryException($"line {lineNumber}: {fields.Count} fields, expected {columns.Length}");
            var h = fields[hash].Trim();
            if (h.Length > 0 && !PasswordHasher.IsHash(h))
                throw new DirectoryException($"line {lineNumber}: password_hash must be in {{SCHEME}} form, never plain text");
            if (!long.TryParse(fields[quota].Trim().Length == 0 ? "0" : fields[quota].Trim(), out var q) || q < 0)
                throw new DirectoryException($"line {lineNumber}: bad quota '{fields[quota]}'");
            var a = fields[address].Trim();
            if (a.LastIndexOf('@') <= 0)
                throw new DirectoryException($"line {lineNumber}: not an address: '{a}'");
            rows.Add((a, fields[name].Trim(), q, h.Length > 0 ? h : "{LOCKED}"));
        }

        var known = directory.Load().Domains.Select(d => d.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
        directory.Batch(batch =>
        {
            foreach (var domain in rows.Select(r => r.Address[(r.Address.LastIndexOf('@') + 1)..].ToLowerInvariant()).Distinct())
            {
                if (known.Add(domain))
                    batch.AddDomain(domain);
            }
            foreach (var row in rows)
                batch.AddUser(row.Address, row.Name, row.Hash, row.Quota);
        });
        return rows.Count;
    }

    /// <summary>One CSV line (RFC 4180 quoting, no line breaks inside fields).</summary>
    private static List<string> Split(string line)
    {
        var fields = new List<string>();
        var field = new System.Text.StringBuilder();
        var quoted = false;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"')
                {
                    field.Append('"');
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
                else
                {
                    field.Append(c);
                }
            }
            else if (c == '"')
            {
                quoted = true;
            }
            else if (c == ',')
            {
                fields.Add(field.ToString());
                field.Clear();
            }
            else
            {
                field.Append(c);
            }
        }
        fields.Add(field.ToString());
        return fields;
    }
}
