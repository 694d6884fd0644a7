using Microsoft.Data.Sqlite;

namespace Engine.Storage.Sql;

/// <summary>
/// The journal's tables in SQLite, made by the engine rather than by the journal plugin (Akka.Persistence.Sql), so
/// that the journal carries only the indexes its queries use. The plugin also makes one on <c>created</c> and one on
/// <c>sequence_number</c> alone; nothing reads through them (a replay, the highest sequence number and a delete all
/// go by persistence id and sequence number, the unique index), and each costs an index page in every commit: at a
/// few rows per transaction, two of the five or six pages each commit writes to the WAL. They are dropped from a
/// database made before. The columns are the plugin's own, so it reads and writes these tables as its own.
/// <para>
/// <c>ordering</c> is SQLite's rowid without AUTOINCREMENT, which kept the highest ordering given in
/// <c>sqlite_sequence</c>: one more page in every commit (about 4 KB of WAL a transaction), only so that the ordering of
/// a deleted last row is never given again. Nothing in the engine reads the journal by ordering (no persistence
/// queries), and the plugin's deletes keep each persistence id's last row, so the next rowid (the highest plus one)
/// is the number AUTOINCREMENT would have given. A database made before keeps its table as it was.
/// </para>
/// </summary>
public static class SqliteJournalSchema
{
    private const string Script = """
        CREATE TABLE IF NOT EXISTS [journal]
        (
        	[ordering]        INTEGER        NOT NULL PRIMARY KEY,
        	[created]         INTEGER        NOT NULL,
        	[deleted]         Bit            NOT NULL,
        	[persistence_id]  NVarChar(255)  NOT NULL,
        	[sequence_number] INTEGER        NOT NULL,
        	[message]         VarBinary      NOT NULL,
        	[manifest]        NVarChar(500)      NULL,
        	[identifier]      INTEGER            NULL,
        	[writer_uuid]     NVarChar(128)      NULL
        );
        CREATE UNIQUE INDEX IF NOT EXISTS journal_uq ON journal (persistence_id, sequence_number);
        DROP INDEX IF EXISTS journal_created_idx;
        DROP INDEX IF EXISTS journal_sequence_number_idx;
        CREATE TABLE IF NOT EXISTS [tags]
        (
        	[ordering_id]    INTEGER       NOT NULL,
        	[tag]            NVarChar(64)  NOT NULL,
        	[sequence_nr]    INTEGER       NOT NULL,
        	[persistence_id] NVarChar(255) NOT NULL,
        	CONSTRAINT [PK_tags] PRIMARY KEY ([ordering_id], [tag])
        );
        CREATE INDEX IF NOT EXISTS tags_persistence_id_sequence_nr_idx ON tags (persistence_id, sequence_nr);
        CREATE INDEX IF NOT EXISTS tags_tag_idx ON tags (tag);
        """;

    /// <summary>Makes the journal's tables when missing, and drops the indexes the journal does not use.</summary>
    public static void Ensure(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = Script;
        command.ExecuteNonQuery();
    }
}
