import { describe, expect, it } from 'vitest';
import { InvalidExportError } from '../../lib/errors';
import { getProjectExportJobResponseSchema, toProjectExportJob, type ProjectExportJob } from '../../lib/ims-schema';
import { isValidJobId } from '../../lib/job-id';
import { zipFileName } from '../../lib/copy-zip';
import { timelineText } from '../../lib/sync';
import { choosePartSize, MIN_PART_SIZE } from '../../lib/upload';

// The shape of the sample success response on the GetProjectExportJob API reference page: IDs with a
// trailing newline, Timeline and UserData as nested objects, and Code/Message present on a successful job.
const documentedSample = {
  RequestId: '****2876-6263-4B75-8F2C-CD0F7FCF****',
  ProjectExportJob: {
    JobId: '****cdb3e74639973036bc84****\n',
    ProjectId: '****fddd7748b58bf1d47e95****\n',
    ExportType: 'BaseTimeline',
    Status: 'Success',
    Code: 'InvalidParameter',
    Message: 'The specified parameter is not valid.',
    ExportResult: {
      Timeline: { VideoTracks: [{ VideoTrackClips: [{ Type: 'Video', MediaId: '****4d7cf14dc7b83b0e801c****', TimelineIn: 0, TimelineOut: 5 }] }] },
      ProjectUrl: 'http://example-bucket.oss-cn-shanghai.aliyuncs.com/example_prefix/exported_project_1e8c39a502c3436c84f88290cd713bf3.zip?Expires=1750331685&....',
    },
    UserData: { NotifyAddress: 'http://xx.xx.xxx', Key: 'Valuexxx' },
  },
};

function jobWith(fields: Partial<ProjectExportJob>): ProjectExportJob {
  return {
    jobId: 'job1',
    projectId: undefined,
    exportType: 'BaseTimeline',
    status: 'Success',
    code: undefined,
    message: undefined,
    timeline: undefined,
    projectUrl: undefined,
    userData: undefined,
    ...fields,
  };
}

describe('toProjectExportJob', () => {
  it('reads the documented sample response', () => {
    const job = toProjectExportJob(getProjectExportJobResponseSchema.parse(documentedSample));

    expect(job.jobId).toBe('****cdb3e74639973036bc84****');
    expect(job.projectId).toBe('****fddd7748b58bf1d47e95****');
    expect(job.status).toBe('Success');
    expect(typeof job.timeline).toBe('object');
    expect(job.userData).toEqual({ NotifyAddress: 'http://xx.xx.xxx', Key: 'Valuexxx' });
  });

  it('parses UserData sent as JSON text', () => {
    const body = structuredClone(documentedSample) as { ProjectExportJob: Record<string, unknown> };
    body.ProjectExportJob.UserData = '{"Key":"Value"}';

    expect(toProjectExportJob(getProjectExportJobResponseSchema.parse(body)).userData).toEqual({ Key: 'Value' });
  });

  it('keeps UserData that is not JSON as text', () => {
    const body = structuredClone(documentedSample) as { ProjectExportJob: Record<string, unknown> };
    body.ProjectExportJob.UserData = 'plain words';

    expect(toProjectExportJob(getProjectExportJobResponseSchema.parse(body)).userData).toBe('plain words');
  });

  it('rejects an unknown status', () => {
    const body = structuredClone(documentedSample) as { ProjectExportJob: Record<string, unknown> };
    body.ProjectExportJob.Status = 'Finished';

    expect(getProjectExportJobResponseSchema.safeParse(body).success).toBe(false);
  });
});

describe('timelineText', () => {
  it('keeps JSON text verbatim', () => {
    expect(timelineText(jobWith({ timeline: '{ "VideoTracks": [] }' }))).toBe('{ "VideoTracks": [] }');
  });

  it('serialises an object Timeline', () => {
    expect(timelineText(jobWith({ timeline: { VideoTracks: [] } }))).toBe('{"VideoTracks":[]}');
  });

  it.each([
    { timeline: '{"VideoTracks": [', code: 'InvalidTimeline' },
    { timeline: '"just a string"', code: 'InvalidTimeline' },
    { timeline: '[1,2]', code: 'InvalidTimeline' },
    { timeline: undefined, code: 'MissingTimeline' },
  ])('rejects $timeline as $code', ({ timeline, code }) => {
    let caught: unknown;
    try {
      timelineText(jobWith({ timeline }));
    } catch (error) {
      caught = error;
    }

    expect(caught).toBeInstanceOf(InvalidExportError);
    expect((caught as InvalidExportError).code).toBe(code);
  });
});

describe('zipFileName', () => {
  it.each([
    { url: 'https://b.oss-cn-shanghai.aliyuncs.com/p/exported_project_1e8c.zip?Expires=1', name: 'exported_project_1e8c.zip' },
    { url: 'https://b.oss-cn-shanghai.aliyuncs.com/p/..', name: 'project.zip' },
    { url: 'https://b.oss-cn-shanghai.aliyuncs.com/p/manifest.json', name: 'project.zip' },
    { url: 'https://b.oss-cn-shanghai.aliyuncs.com/p/a%2F..%2Fb.zip', name: 'project.zip' },
    { url: 'https://b.oss-cn-shanghai.aliyuncs.com/', name: 'project.zip' },
    { url: 'https://b.oss-cn-shanghai.aliyuncs.com/p/%E4%B8%AD.zip', name: 'project.zip' },
  ])('names $url as $name', ({ url, name }) => {
    expect(zipFileName(url)).toBe(name);
  });
});

describe('isValidJobId', () => {
  it.each(['cdb3e74639973036bc84aaaabbbbcccc', '****cdb3e74639973036bc84****', 'job_1-2'])('accepts %s', (id) => {
    expect(isValidJobId(id)).toBe(true);
  });

  it.each(['', 'a/b', '..', 'a.b', 'job\n', 'jöb', 'x'.repeat(65)])('rejects %j', (id) => {
    expect(isValidJobId(id)).toBe(false);
  });
});

describe('choosePartSize', () => {
  it('keeps the requested size for small sources', () => {
    expect(choosePartSize(8 * 1024 * 1024, 100 * 1024 * 1024)).toBe(8 * 1024 * 1024);
  });

  it('raises the size to stay under 10,000 parts', () => {
    const size = 200 * 1024 ** 3;
    const partSize = choosePartSize(8 * 1024 * 1024, size);

    expect(Math.ceil(size / partSize)).toBeLessThanOrEqual(10_000);
    expect(partSize % (1024 * 1024)).toBe(0);
  });

  it('never goes below the OSS minimum part size', () => {
    expect(choosePartSize(1024, undefined)).toBe(MIN_PART_SIZE);
  });
});
