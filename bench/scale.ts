export async function runScale(_o: { out: string; json: boolean; users?: number | undefined; pending?: number | undefined }): Promise<void> {
  await Promise.resolve();
  throw new Error('not yet');
}
